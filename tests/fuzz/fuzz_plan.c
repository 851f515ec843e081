/* libFuzzer target for test plans: the INI reader (libinih behind our line-numbering reader) and every field
 * parser and whole-plan check.  Whatever the input, loading returns 0 or an error message naming a line, and a
 * plan that loads satisfies the invariants the engine relies on.  Inputs naming files (accounts, media) are
 * skipped: what those open is tested in the unit tests, and a fuzzer should not read the machine's files. */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"

static struct cfg_plan plan;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[CFG_ERR_MAX], *text;
	int rc;

	if (size > 65536)
		return 0;
	text = malloc(size + 1);
	memcpy(text, data, size);
	text[size] = '\0';
	if (strstr(text, "accounts") || strchr(text, '/')) {
		free(text);
		return 0;
	}
	rc = cfg_plan_load_string(&plan, "fuzz.ini", text, err, sizeof(err));
	if (rc == 0) {
		uint64_t total = 0;

		assert(plan.ngroups > 0 && plan.ngroups <= CFG_MAX_GROUPS);
		for (uint32_t g = 0; g < plan.ngroups; g++) {
			const struct cfg_group *gr = &plan.groups[g];

			assert(gr->endpoints >= 1 && gr->ncodecs >= 1 && gr->ncodecs <= CFG_MAX_CODECS);
			assert(gr->target_kind != CFG_TARGET_GROUP ||
			       (gr->target_group >= 0 && (uint32_t)gr->target_group < plan.ngroups));
			total += gr->endpoints;
		}
		assert(total == plan.total_endpoints && total <= CFG_MAX_ENDPOINTS);
		assert(plan.dp.rtp_port_min <= plan.dp.rtp_port_max && plan.dp.nmedia_ips >= 1);
	} else {
		assert(strncmp(err, "fuzz.ini", 8) == 0); /* every error names the plan */
	}
	free(text);
	return 0;
}
