/*
 * test_base_names.c - base/names.c: node and host name rules and bounds.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "rollcall/names.h"

static void test_node_names(void **state)
{
    static const char *good[] = {
        "a@b",   "py@127.0.0.1", "rollcall@10.0.0.5", "Node_1-x@Host-1.example.com",
        "n@::1", "n@fe80::1"};
    static const char *bad[] = {"",           "a",     "@b",     "a@",           "a@b@c",
                                "a.b@c",      "a b@c", "a@b c",  "a@b/c",        "a@b\n",
                                "\xc3\xa9@b", "a:b@c", "../x@h", "evil\x1b[2J@h"};
    char name[RC_NAME_MAX + 2];

    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        assert_true(rc_node_name_valid(good[i]));
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_false(rc_node_name_valid(bad[i]));
    assert_false(rc_node_name_valid(NULL));

    /* exactly RC_NAME_MAX is fine, one more is not */
    memset(name, 'h', sizeof(name));
    name[0] = 'a';
    name[1] = '@';
    name[RC_NAME_MAX] = '\0';
    assert_true(rc_node_name_valid(name));
    name[RC_NAME_MAX] = 'h';
    name[RC_NAME_MAX + 1] = '\0';
    assert_false(rc_node_name_valid(name));
}

static void test_hosts(void **state)
{
    char big[RC_NAME_MAX + 1];

    assert_true(rc_host_valid("", 0));
    assert_true(rc_host_valid("10.0.0.5", 8));
    assert_true(rc_host_valid("fe80::1", 7));
    assert_true(rc_host_valid("db-1.example_x", 14));
    assert_false(rc_host_valid("a b", 3));
    assert_false(rc_host_valid("a/b", 3));
    assert_false(rc_host_valid("a@b", 3));
    assert_false(rc_host_valid("h\n", 2));
    assert_false(rc_host_valid("h\0", 2)); /* the length counts, not the NUL */
    memset(big, 'h', sizeof(big));
    assert_true(rc_host_valid(big, RC_NAME_MAX));
    assert_false(rc_host_valid(big, RC_NAME_MAX + 1));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_node_names),
        cmocka_unit_test(test_hosts),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
