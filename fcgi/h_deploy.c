/* SPDX-License-Identifier: MIT */
#include "handlers.h"
#define NOTYET(fn) int fn(struct request *req, struct response *resp) { (void)req; resp_error(resp, 503, "unavailable", "not implemented yet"); return 0; }
NOTYET(h_deploy)
