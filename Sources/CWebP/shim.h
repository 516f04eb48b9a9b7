// libwebp (Debian: libwebp-dev): WebP decoding.
#include <webp/decode.h>
