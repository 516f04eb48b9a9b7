// libjpeg-turbo's TurboJPEG API (Debian: libturbojpeg0-dev): JPEG decoding with DCT
// scaling, and its BMP/PPM loader (tjLoadImage).
#include <stddef.h>
#include <turbojpeg.h>
