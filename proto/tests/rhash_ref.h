/* rhash_ref.h: librhash as an independent reference for the Tiger and TTH
 * tests, loaded with dlopen so that dcproto never links it. Test-only. */
#ifndef DC_PROTO_TESTS_RHASH_REF_H
#define DC_PROTO_TESTS_RHASH_REF_H

#include <criterion/criterion.h>
#include <dlfcn.h>

/* The handle is closed by the caller (dlclose(r.handle)). */
struct rhash_api {
    void *handle;
    int (*msg)(unsigned, const void *, size_t, unsigned char *);
};

static inline void rhash_open(struct rhash_api *r)
{
    r->handle = dlopen("librhash.so.0", RTLD_NOW);
    cr_assert_not_null(r->handle, "librhash.so.0 (Debian librhash0) is a test dependency: %s", dlerror());
    void (*init)(void) = (void (*)(void))dlsym(r->handle, "rhash_library_init");
    r->msg = (int (*)(unsigned, const void *, size_t, unsigned char *))dlsym(r->handle, "rhash_msg");
    cr_assert(init && r->msg);
    init();
}

#endif
