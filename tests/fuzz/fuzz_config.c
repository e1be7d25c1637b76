/*
 * fuzz_config.c - the ini file path of rc_config_load, and the duration rule.
 *
 * The input is written to a memfd and loaded through the real command-line
 * path (`rollcall -c /proc/self/fd/N check-config`), so the fuzzer drives
 * exactly what a user's file drives: the line reader, inih, the key table,
 * every value parser and the error collector; a successful load is printed
 * too. ROLLCALL_NAME is set so that no run depends on the host's addresses.
 * The same bytes then go to rc_duration_from_text (the base layer's one
 * duration rule, which the configuration uses), whose result must survive a
 * round trip through rc_duration_to_text.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "rollcall/config.h"
#include "rollcall/duration.h"

extern char **environ;

static int ini_fd = -1;
static char ini_path[64];
static FILE *devnull;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    for (char **e = environ; *e != NULL;) { /* a clean environment */
        if (strncmp(*e, "ROLLCALL_", 9) == 0 || strncmp(*e, "ERL_EPMD_PORT=", 14) == 0) {
            char name[256];

            snprintf(name, sizeof(name), "%.*s", (int)(strchr(*e, '=') - *e), *e);
            unsetenv(name);
            e = environ;
        } else {
            e++;
        }
    }
    setenv("ROLLCALL_NAME", "fuzz@127.0.0.1", 1);
    ini_fd = memfd_create("fuzz_config.ini", MFD_CLOEXEC);
    if (ini_fd < 0)
        abort();
    snprintf(ini_path, sizeof(ini_path), "/proc/self/fd/%d", ini_fd);
    devnull = fopen("/dev/null", "w");
    if (devnull == NULL)
        abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char a0[] = "rollcall", a1[] = "-c", a3[] = "check-config";
    char *argv[] = {a0, a1, ini_path, a3, NULL};
    struct rc_config cfg;
    struct rc_args args;
    char err[8192], *s;
    uint64_t ms, back;

    if (ftruncate(ini_fd, 0) < 0 || pwrite(ini_fd, data, size, 0) != (ssize_t)size)
        abort();
    if (rc_config_load(&cfg, &args, 4, argv, err, sizeof(err)) == 0)
        rc_config_print(&cfg, devnull);
    else if (err[0] == '\0')
        abort(); /* a failure always says why */

    s = malloc(size + 1);
    if (s == NULL)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    if (rc_duration_from_text(s, size, &ms) == 0) {
        char out[32];

        rc_duration_to_text(ms, out, sizeof(out));
        if (rc_duration_from_text(out, strlen(out), &back) != 0 || back != ms)
            abort();
    }
    free(s);
    return 0;
}
