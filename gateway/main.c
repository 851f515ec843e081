/* callmeter-gateway: the self-hosted Worker Gateway.  The token store, TLS listener, scheduler and results
 * store arrive with the gateway work; until then the program says so instead of pretending. */
#include <stdio.h>
#include <string.h>

#include "common/common.h"

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "--version") == 0) {
		printf("callmeter-gateway %s\n", CM_VERSION);
		return 0;
	}
	fprintf(stderr, "callmeter-gateway %s: the gateway (serve, worker, run commands) is not built yet\n",
		CM_VERSION);
	return 2;
}
