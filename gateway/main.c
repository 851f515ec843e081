/* callmeter-gateway: the self-hosted Worker Gateway.  The commands live in gateway/cli.c. */
#include "gateway/gateway.h"

int main(int argc, char **argv)
{
	return gw_cli_main(argc, argv);
}
