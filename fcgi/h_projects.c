/* SPDX-License-Identifier: MIT */
#include "handlers.h"
#define NOTYET(fn) int fn(struct request *req, struct response *resp) { (void)req; resp_error(resp, 503, "unavailable", "not implemented yet"); return 0; }
NOTYET(h_projects_list) NOTYET(h_projects_get) NOTYET(h_projects_delete) NOTYET(h_projects_start) NOTYET(h_projects_stop) NOTYET(h_projects_restart) NOTYET(h_projects_signal) NOTYET(h_projects_rollback)
