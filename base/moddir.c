/*
 * moddir.c - where modules are looked for (moddir.h).
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rollcall/moddir.h"

/* The folder of the running executable, into out; false if unknown. */
static bool exe_dir(char *out, size_t outlen)
{
    ssize_t n = readlink("/proc/self/exe", out, outlen - 1);
    char *slash;

    if (n <= 0 || (size_t)n >= outlen - 1)
        return false;
    out[n] = '\0';
    slash = strrchr(out, '/');
    if (slash == NULL)
        return false;
    *slash = '\0';
    return true;
}

size_t rc_module_dirs(const char *install_dir, char dirs[RC_MODULE_DIRS_MAX][PATH_MAX])
{
    const char *env = getenv("ROLLCALL_MODULE_DIR");
    size_t n = 0;

    if (env != NULL && env[0] != '\0') {
        snprintf(dirs[n++], PATH_MAX, "%s", env);
        return n;
    }
    if (exe_dir(dirs[n], PATH_MAX))
        n++;
    snprintf(dirs[n++], PATH_MAX, "%s", install_dir);
    return n;
}
