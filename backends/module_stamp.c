/*
 * module_stamp.c - the one exported symbol of a backend module
 * (rollcall-<scheme>.so; backend.h): compiled into every module with
 * RC_MODULE_SCHEME set to its scheme (CMakeLists.txt) and into nothing
 * else. The loader (registry/modules.c) calls it and checks the ABI version
 * before it trusts the module with any struct.
 */
#include "rollcall/backend.h"

#ifndef RC_MODULE_SCHEME
#error "RC_MODULE_SCHEME (redis, postgres, s3) must be defined"
#endif

#define RC_CAT2(a, b) a##b
#define RC_CAT(a, b) RC_CAT2(a, b)
#define RC_STR2(a) #a
#define RC_STR(a) RC_STR2(a)

extern const struct rc_backend_ops RC_CAT(rc_backend_, RC_MODULE_SCHEME);

const struct rc_backend_module *rc_backend_entry(void) __attribute__((visibility("default")));

const struct rc_backend_module *rc_backend_entry(void)
{
    static const struct rc_backend_module m = {
        .abi_version = RC_BACKEND_ABI_VERSION,
        .scheme = RC_STR(RC_MODULE_SCHEME),
        .ops = &RC_CAT(rc_backend_, RC_MODULE_SCHEME),
    };

    return &m;
}
