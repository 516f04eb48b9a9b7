// libspng (Debian: libspng-dev): PNG decoding and encoding with plain error codes.
#include <spng.h>
