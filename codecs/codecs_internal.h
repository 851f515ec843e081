/* codecs/ internals shared between its files; not part of the public header. */
#ifndef CM_CODECS_INTERNAL_H
#define CM_CODECS_INTERNAL_H

#include "codecs/codecs.h"

/* A zeroed media of nsamples at rate, named `name` (truncated to fit); NULL when out of memory. */
struct codec_media *codec_media_alloc(const char *name, uint32_t rate, size_t nsamples);

#endif
