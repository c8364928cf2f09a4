/* SPDX-License-Identifier: MIT */
/* /api/v1/artifacts (step 4). */
#include "handlers.h"
#define NOTYET(fn) int fn(struct request *req, struct response *resp) { (void)req; resp_error(resp, 503, "unavailable", "not implemented yet"); return 0; }
NOTYET(h_artifacts_list) NOTYET(h_artifacts_upload) NOTYET(h_artifacts_get) NOTYET(h_artifacts_delete) NOTYET(h_artifacts_download)
