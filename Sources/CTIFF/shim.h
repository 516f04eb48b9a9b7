// libtiff (Debian: libtiff-dev): TIFF decoding through TIFFReadRGBAImageOriented.
#include <tiffio.h>
