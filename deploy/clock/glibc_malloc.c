/* Preloaded before libfaketime for ClickHouse 18.16 (Debian), which links
 * jemalloc: jemalloc calls clock_gettime() while it initialises, libfaketime
 * calls dlsym() (so calloc(), so jemalloc) while it initialises, and the
 * server hangs (libfaketime#130). With this shim every malloc goes to glibc's
 * allocator; jemalloc is only touched by mallctl() (stats), after libfaketime
 * is ready. Test-clock runs only (deploy/clock/run). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);
extern void *__libc_memalign(size_t, size_t);
extern void *__libc_valloc(size_t);
extern void *__libc_pvalloc(size_t);

void *malloc(size_t n) { return __libc_malloc(n); }
void *calloc(size_t n, size_t s) { return __libc_calloc(n, s); }
void *realloc(void *p, size_t n) { return __libc_realloc(p, n); }
void free(void *p) { __libc_free(p); }
void cfree(void *p) { __libc_free(p); }
void *memalign(size_t a, size_t n) { return __libc_memalign(a, n); }
void *aligned_alloc(size_t a, size_t n) { return __libc_memalign(a, n); }
void *valloc(size_t n) { return __libc_valloc(n); }
void *pvalloc(size_t n) { return __libc_pvalloc(n); }
int posix_memalign(void **out, size_t a, size_t n) {
    if (a < sizeof(void *) || (a & (a - 1)) != 0) return EINVAL;
    void *p = __libc_memalign(a, n);
    if (p == NULL && n != 0) return ENOMEM;
    *out = p;
    return 0;
}
size_t malloc_usable_size(void *p) {
    static size_t (*glibc)(void *);
    if (glibc == NULL) {
        void *libc = dlopen("libc.so.6", RTLD_LAZY | RTLD_NOLOAD);
        glibc = (size_t (*)(void *))dlvsym(libc, "malloc_usable_size", "GLIBC_2.2.5");
    }
    return glibc(p);
}

/* jemalloc also exports C++ operator new and delete: those go to glibc too
 * (a failed allocation aborts, which is fine for a test server). */
#include <stdlib.h>
static void *must(void *p) { if (p == NULL) abort(); return p; }
void *_Znwm(size_t n) { return must(__libc_malloc(n ? n : 1)); }
void *_Znam(size_t n) { return must(__libc_malloc(n ? n : 1)); }
void *_ZnwmRKSt9nothrow_t(size_t n, const void *t) { (void)t; return __libc_malloc(n ? n : 1); }
void *_ZnamRKSt9nothrow_t(size_t n, const void *t) { (void)t; return __libc_malloc(n ? n : 1); }
void *_ZnwmSt11align_val_t(size_t n, size_t a) { return must(__libc_memalign(a, n ? n : 1)); }
void *_ZnamSt11align_val_t(size_t n, size_t a) { return must(__libc_memalign(a, n ? n : 1)); }
void *_ZnwmSt11align_val_tRKSt9nothrow_t(size_t n, size_t a, const void *t) { (void)t; return __libc_memalign(a, n ? n : 1); }
void *_ZnamSt11align_val_tRKSt9nothrow_t(size_t n, size_t a, const void *t) { (void)t; return __libc_memalign(a, n ? n : 1); }
void _ZdlPv(void *p) { __libc_free(p); }
void _ZdaPv(void *p) { __libc_free(p); }
void _ZdlPvm(void *p, size_t n) { (void)n; __libc_free(p); }
void _ZdaPvm(void *p, size_t n) { (void)n; __libc_free(p); }
void _ZdlPvRKSt9nothrow_t(void *p, const void *t) { (void)t; __libc_free(p); }
void _ZdaPvRKSt9nothrow_t(void *p, const void *t) { (void)t; __libc_free(p); }
void _ZdlPvSt11align_val_t(void *p, size_t a) { (void)a; __libc_free(p); }
void _ZdaPvSt11align_val_t(void *p, size_t a) { (void)a; __libc_free(p); }
void _ZdlPvmSt11align_val_t(void *p, size_t n, size_t a) { (void)n; (void)a; __libc_free(p); }
void _ZdaPvmSt11align_val_t(void *p, size_t n, size_t a) { (void)n; (void)a; __libc_free(p); }
void _ZdlPvSt11align_val_tRKSt9nothrow_t(void *p, size_t a, const void *t) { (void)a; (void)t; __libc_free(p); }
void _ZdaPvSt11align_val_tRKSt9nothrow_t(void *p, size_t a, const void *t) { (void)a; (void)t; __libc_free(p); }
