// TurboJPEG reached through dlopen/dlsym: the prototypes below are the few functions of TurboJPEG's
// 2.x/3.x C API that decoding needs (the same ABI in both), declared here so nothing is linked at
// build time.
#include "cturbojpeg.h"
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

typedef void *tjhandle;
enum { TJFLAG_ACCURATEDCT = 4096, TJFLAG_LIMITSCANS = 32768, TJERR_WARNING = 0 };

static tjhandle (*p_init)(void);
static int (*p_header)(tjhandle, const unsigned char *, unsigned long, int *, int *, int *, int *);
static int (*p_decompress)(tjhandle, const unsigned char *, unsigned long, unsigned char *, int, int, int, int, int);
static char *(*p_error_str)(tjhandle);
static int (*p_error_code)(tjhandle);
static int (*p_destroy)(tjhandle);

static tjhandle (*p_init_compress)(void);
static int (*p_compress)(tjhandle, const unsigned char *, int, int, int, int, unsigned char **, unsigned long *, int, int, int);
static void (*p_free)(unsigned char *);

static pthread_once_t once = PTHREAD_ONCE_INIT;
static const char *load_error = "";
static int loaded = 0;

static void load(void) {
    const char *names[] = {"libturbojpeg.so.0", "libturbojpeg.so", "libturbojpeg.0.dylib", "libturbojpeg.dylib"};
    void *lib = NULL;
    for (unsigned i = 0; i < sizeof names / sizeof names[0] && !lib; i++) lib = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
    if (!lib) { load_error = "libturbojpeg.so.0 was not found"; return; }
    p_init = (tjhandle (*)(void))dlsym(lib, "tjInitDecompress");
    p_header = (int (*)(tjhandle, const unsigned char *, unsigned long, int *, int *, int *, int *))dlsym(lib, "tjDecompressHeader3");
    p_decompress = (int (*)(tjhandle, const unsigned char *, unsigned long, unsigned char *, int, int, int, int, int))dlsym(lib, "tjDecompress2");
    p_error_str = (char *(*)(tjhandle))dlsym(lib, "tjGetErrorStr2");
    p_error_code = (int (*)(tjhandle))dlsym(lib, "tjGetErrorCode");
    p_destroy = (int (*)(tjhandle))dlsym(lib, "tjDestroy");
    p_init_compress = (tjhandle (*)(void))dlsym(lib, "tjInitCompress");
    p_compress = (int (*)(tjhandle, const unsigned char *, int, int, int, int, unsigned char **, unsigned long *, int, int, int))dlsym(lib, "tjCompress2");
    p_free = (void (*)(unsigned char *))dlsym(lib, "tjFree");
    if (!p_init_compress || !p_compress || !p_free ||
        !p_init || !p_header || !p_decompress || !p_error_str || !p_error_code || !p_destroy) {
        load_error = "libturbojpeg is too old (TurboJPEG 2.0 or newer is needed)";
        return;
    }
    loaded = 1;
}

int ctj_available(void) { pthread_once(&once, load); return loaded; }
const char *ctj_load_error(void) { pthread_once(&once, load); return load_error; }

static void copy_message(tjhandle h, char *message, int cap) {
    if (cap <= 0) return;
    const char *s = h ? p_error_str(h) : "cannot create a TurboJPEG decompressor";
    snprintf(message, (size_t)cap, "%s", s ? s : "unknown error");
}

void *ctj_open(void) { return ctj_available() ? p_init() : NULL; }

void ctj_close(void *handle) { if (handle) p_destroy(handle); }

int ctj_header(void *h, const unsigned char *jpeg, unsigned long size, int *width, int *height, int *subsamp,
               int *colorspace, char *message, int cap) {
    if (!ctj_available()) { snprintf(message, (size_t)cap, "%s", load_error); return CTJ_ERROR; }
    if (!h) { copy_message(NULL, message, cap); return CTJ_ERROR; }
    int r = p_header(h, jpeg, size, width, height, subsamp, colorspace);
    if (r != 0) copy_message(h, message, cap);
    return r == 0 ? CTJ_OK : CTJ_ERROR;
}

int ctj_decompress(void *h, const unsigned char *jpeg, unsigned long size, unsigned char *dst, int width, int height,
                   int format, char *message, int cap) {
    if (!ctj_available()) { snprintf(message, (size_t)cap, "%s", load_error); return CTJ_ERROR; }
    if (!h) { copy_message(NULL, message, cap); return CTJ_ERROR; }
    int channels = format == CTJ_GRAY ? 1 : 3;
    // accurate (islow) IDCT and fancy upsampling: libjpeg's defaults, which Pillow uses; a cap on
    // progressive scans so a hostile file cannot make decoding take minutes
    int r = p_decompress(h, jpeg, size, dst, width, width * channels, height, format, TJFLAG_ACCURATEDCT | TJFLAG_LIMITSCANS);
    if (r == 0) return CTJ_OK;
    copy_message(h, message, cap);
    return p_error_code(h) == TJERR_WARNING ? CTJ_WARNING : CTJ_ERROR;
}

enum { TJSAMP_420 = 2, TJSAMP_GRAY = 3 };

unsigned long ctj_compress(const unsigned char *pixels, int width, int height, int format, int quality,
                           unsigned char **out, char *message, int cap) {
    *out = NULL;
    if (!ctj_available()) { snprintf(message, (size_t)cap, "%s", load_error); return 0; }
    tjhandle h = p_init_compress();
    if (!h) { snprintf(message, (size_t)cap, "cannot create a TurboJPEG compressor"); return 0; }
    unsigned long size = 0;
    int channels = format == CTJ_GRAY ? 1 : 3;
    int r = p_compress(h, pixels, width, width * channels, height, format, out, &size,
                       format == CTJ_GRAY ? TJSAMP_GRAY : TJSAMP_420, quality, TJFLAG_ACCURATEDCT);
    if (r != 0) { copy_message(h, message, cap); if (*out) { p_free(*out); *out = NULL; } size = 0; }
    p_destroy(h);
    return size;
}

void ctj_free(unsigned char *buffer) { if (buffer) p_free(buffer); }
