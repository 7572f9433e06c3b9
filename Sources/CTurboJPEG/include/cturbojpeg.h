#ifndef CTURBOJPEG_H
#define CTURBOJPEG_H
// JPEG decoding through libjpeg-turbo's TurboJPEG API, loaded with dlopen on first use so that the
// package builds and links on machines without libjpeg-turbo; only decoding a JPEG then fails.

/// Output pixel formats (TurboJPEG's TJPF_RGB and TJPF_GRAY).
enum { CTJ_RGB = 0, CTJ_GRAY = 6 };
/// JPEG colour spaces as TurboJPEG reports them (TJCS_*).
enum { CTJ_CS_RGB = 0, CTJ_CS_YCBCR = 1, CTJ_CS_GRAY = 2, CTJ_CS_CMYK = 3, CTJ_CS_YCCK = 4 };
/// Result codes of ctj_decompress: success, success with a warning (e.g. trailing garbage), failure.
enum { CTJ_OK = 0, CTJ_WARNING = 1, CTJ_ERROR = -1 };

/// Loads libturbojpeg (once, thread-safe); returns 1 when usable, else 0 (see ctj_load_error).
int ctj_available(void);
/// Why loading failed (a static string), or "" when it did not.
const char *ctj_load_error(void);

/// A decompressor for one image: ctj_open, ctj_header, then (if the caller accepts the size)
/// ctj_decompress into the caller's buffer, and ctj_close in every case.
void *ctj_open(void);
void ctj_close(void *handle);

/// Reads the header: width, height, chroma subsampling (TJSAMP_*) and colour space (TJCS_*).
/// Returns CTJ_OK or CTJ_ERROR, with the library's message copied into `message` (size `cap`).
int ctj_header(void *handle, const unsigned char *jpeg, unsigned long size, int *width, int *height, int *subsamp,
               int *colorspace, char *message, int cap);

/// Decodes into `dst` (width × height × channels of `format`, tightly packed). Returns CTJ_OK,
/// CTJ_WARNING (the pixels are complete, but the message says what was odd) or CTJ_ERROR.
int ctj_decompress(void *handle, const unsigned char *jpeg, unsigned long size, unsigned char *dst, int width, int height,
                   int format, char *message, int cap);

/// Encodes width × height pixels (`format`: CTJ_RGB or CTJ_GRAY) as a baseline JPEG of `quality`
/// (4:2:0 for colour, as Pillow's default). On success returns the size and sets *out to a buffer
/// to release with ctj_free; returns 0 on failure with the message in `message`.
unsigned long ctj_compress(const unsigned char *pixels, int width, int height, int format, int quality,
                           unsigned char **out, char *message, int cap);
void ctj_free(unsigned char *buffer);
#endif
