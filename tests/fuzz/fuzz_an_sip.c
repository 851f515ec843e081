/* libFuzzer target for what `analyze` reads of SIP in a capture: a sequence of frames, each parsed by the
 * dataplane's parser and handed to the SIP learner — UDP datagrams to or from port 5060 parsed as SIP, TCP
 * segments reassembled per direction (retransmissions, holes, resynchronisation at the next start line, the
 * framer's Content-Length), and SDP bodies read for SDES keys and formats.  Input: frames as a 2-byte
 * big-endian length and that many bytes; each frame is copied to a buffer of its exact size (ASan sees any read
 * past it).  One learner per input, so streams and keys build up across its frames. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane/dataplane_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct an_keys *k = dp_an_keys_new(5060);

	if (!k)
		return 0;
	while (size >= 2) {
		size_t len = (size_t)data[0] << 8 | data[1];
		uint8_t *f;
		struct dp_pkt pk;

		data += 2;
		size -= 2;
		if (len > size)
			len = size;
		f = malloc(len ? len : 1);
		if (!f)
			break;
		memcpy(f, data, len);
		dp_an_learn_sip(k, &pk, dp_parse(f, (uint32_t)len, false, &pk));
		free(f);
		data += len;
		size -= len;
	}
	dp_an_keys_free(k);
	return 0;
}
