/* SPDX-License-Identifier: MIT */
/*
 * Compile test: CTRACE_RETURN and friends in functions returning nothing,
 * integers, booleans, doubles, pointers, strings (also literals, which must
 * decay), enums, struct ctrace_value, and other structs (through
 * CTRACE_RETURN_VALUE).
 */
#include <stdbool.h>
#include <stddef.h>

#include "ctrace/point.h"

enum rc { RC_OK, RC_NOT_IN_TOWN };
struct pos {
    int x;
    int y;
};

void ret_void(int n);
int ret_int(int n);
bool ret_bool(int n);
double ret_double(double d);
const int *ret_pointer(const int *p);
const char *ret_string(int n);
char *ret_mutable_string(char *s);
enum rc ret_enum(int n);
struct ctrace_value ret_value(int n);
struct pos ret_struct(int x, int y);
long ret_converted(short s);

void ret_void(int n)
{
    CTRACE_CALL(compile, ret_void, n);
    if (n == 0)
        CTRACE_RETURN_VOID();
    if (n == 1)
        return;
}

int ret_int(int n)
{
    CTRACE_CALL(compile, ret_int, n);
    if (n < 0)
        CTRACE_RETURN(-1);
    CTRACE_RETURN(n * 2);
}

bool ret_bool(int n)
{
    CTRACE_CALL(compile, ret_bool, n);
    CTRACE_RETURN((bool)(n == 3));
}

double ret_double(double d)
{
    CTRACE_CALL(compile, ret_double, d);
    CTRACE_RETURN(d / 2);
}

const int *ret_pointer(const int *p)
{
    CTRACE_CALL(compile, ret_pointer, p);
    if (p == NULL)
        CTRACE_RETURN(NULL);
    CTRACE_RETURN(p + 1);
}

const char *ret_string(int n)
{
    CTRACE_CALL(compile, ret_string, n);
    if (n)
        CTRACE_RETURN("yes");
    CTRACE_RETURN((const char *)"no");
}

char *ret_mutable_string(char *s)
{
    CTRACE_CALL(compile, ret_mutable_string, s);
    CTRACE_RETURN(s);
}

static const char *rc_name(enum rc rc)
{
    return rc == RC_OK ? "ok" : "not_in_town";
}

enum rc ret_enum(int n)
{
    CTRACE_CALL(compile, ret_enum, n);
    enum rc rc = n ? RC_NOT_IN_TOWN : RC_OK;
    CTRACE_RETURN_VALUE(rc, ctrace_value_symbol(rc_name(rc)));
}

struct ctrace_value ret_value(int n)
{
    CTRACE_CALL(compile, ret_value, n);
    CTRACE_RETURN(ctrace_value_int(n));
}

struct pos ret_struct(int x, int y)
{
    CTRACE_CALL(compile, ret_struct, x, y);
    struct pos p = {x, y};
    struct ctrace_value items[2] = {ctrace_value_int(p.x),
                                    ctrace_value_int(p.y)};
    CTRACE_RETURN_VALUE(p, ctrace_value_tuple(items, 2));
}

long ret_converted(short s)
{
    CTRACE_CALL(compile, ret_converted, s);
    CTRACE_RETURN((long)s * 2);
}
