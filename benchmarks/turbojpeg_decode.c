// libjpeg-turbo's own decoding speed on a folder of JPEGs (bytes in memory, one TurboJPEG handle
// per thread, RGB output, accurate IDCT), the reference beside `convnet bench --loader`.
//   cc -O2 benchmarks/turbojpeg_decode.c -o /tmp/tjdecode -lturbojpeg -lpthread
//   /tmp/tjdecode '/tmp/photos224/*/*.jpg'
#include <glob.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <turbojpeg.h>

static unsigned char **bufs;
static unsigned long *sizes;
static size_t n;
static long threads;

static void *work(void *arg) {
    long id = (long)arg;
    tjhandle h = tjInitDecompress();
    unsigned char *out = NULL;
    size_t cap = 0;
    for (size_t i = (size_t)id; i < n; i += (size_t)threads) {
        int w, hh, sub, cs;
        if (tjDecompressHeader3(h, bufs[i], sizes[i], &w, &hh, &sub, &cs) != 0) continue;
        if ((size_t)w * hh * 3 > cap) { cap = (size_t)w * hh * 3; out = realloc(out, cap); }
        tjDecompress2(h, bufs[i], sizes[i], out, w, w * 3, hh, TJPF_RGB, TJFLAG_ACCURATEDCT);
    }
    free(out);
    tjDestroy(h);
    return NULL;
}

int main(int argc, char **argv) {
    glob_t g;
    if (argc < 2 || glob(argv[1], 0, NULL, &g) != 0 || g.gl_pathc == 0) { fprintf(stderr, "usage: %s 'GLOB'\n", argv[0]); return 1; }
    n = g.gl_pathc;
    bufs = calloc(n, sizeof *bufs);
    sizes = calloc(n, sizeof *sizes);
    for (size_t i = 0; i < n; i++) {
        FILE *f = fopen(g.gl_pathv[i], "rb");
        if (!f) return 1;
        fseek(f, 0, SEEK_END); sizes[i] = (unsigned long)ftell(f); fseek(f, 0, SEEK_SET);
        bufs[i] = malloc(sizes[i]);
        if (fread(bufs[i], 1, sizes[i], f) != sizes[i]) return 1;
        fclose(f);
    }
    for (threads = 1; threads <= 2; threads++) {
        double best = 0;
        for (int rep = 0; rep < 5; rep++) {
            struct timespec a, b;
            pthread_t th[2];
            clock_gettime(CLOCK_MONOTONIC, &a);
            for (long t = 0; t < threads; t++) pthread_create(&th[t], NULL, work, (void *)t);
            for (long t = 0; t < threads; t++) pthread_join(th[t], NULL);
            clock_gettime(CLOCK_MONOTONIC, &b);
            double rate = n / ((b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9);
            if (rate > best) best = rate;
        }
        printf("libjpeg-turbo tjDecompress2, %ld thread%s: %.0f img/s (%zu images, best of 5)\n", threads, threads > 1 ? "s" : "", best, n);
    }
    return 0;
}
