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
    char big[RC_NAME_MAX + 2];

    assert_true(rc_node_name_valid("rollcall@10.0.0.5"));
    assert_true(rc_node_name_valid("a_b-C9@host.example.org"));
    assert_true(rc_node_name_valid("a@::1"));
    assert_false(rc_node_name_valid(NULL));
    assert_false(rc_node_name_valid(""));
    assert_false(rc_node_name_valid("noat"));
    assert_false(rc_node_name_valid("@h"));
    assert_false(rc_node_name_valid("a@"));
    assert_false(rc_node_name_valid("a@b@c"));
    assert_false(rc_node_name_valid("a.b@h"));
    assert_false(rc_node_name_valid("a b@h"));
    assert_false(rc_node_name_valid("../x@h"));
    assert_false(rc_node_name_valid("a@h/x"));
    assert_false(rc_node_name_valid("evil\x1b[2J@h"));
    assert_false(rc_node_name_valid("a@h\n"));
    assert_false(rc_node_name_valid("\xc3\xa9@h"));
    /* exactly RC_NAME_MAX is fine, one more is not */
    memset(big, 'a', sizeof(big));
    big[1] = '@';
    big[RC_NAME_MAX] = '\0';
    assert_true(rc_node_name_valid(big));
    big[RC_NAME_MAX] = 'a';
    big[RC_NAME_MAX + 1] = '\0';
    assert_false(rc_node_name_valid(big));
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
