/* SPDX-License-Identifier: MIT */
/*
 * Compile test: CTRACE_CALL with 0 to 10 arguments of every kind CTRACE_ARG
 * converts, under -Wconversion, -Wsign-conversion, -Wdouble-promotion and
 * -Wdeclaration-after-statement (CTRACE_CALL is only declarations).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ctrace/point.h"

enum colour { RED, GREEN };
struct flags {
    unsigned bit : 1;
};

void call_kinds_0(void);
void call_kinds_1(int a);
void call_kinds_2(signed char a, unsigned char b);
void call_kinds_3(char a, short b, unsigned short c);
void call_kinds_4(unsigned a, long b, unsigned long c, long long d);
void call_kinds_5(unsigned long long a,
                  float b,
                  double c,
                  long double d,
                  bool e);
void call_kinds_6(char *a,
                  const char *b,
                  void *c,
                  const void *d,
                  const int *e,
                  struct ctrace_value f);
void call_kinds_7(int8_t a,
                  uint8_t b,
                  int16_t c,
                  uint16_t d,
                  int32_t e,
                  uint32_t f,
                  int64_t g);
void call_kinds_8(uint64_t a,
                  size_t b,
                  ptrdiff_t c,
                  intptr_t d,
                  uintptr_t e,
                  enum colour f,
                  struct flags g,
                  const char h[]);
void call_kinds_9(int a,
                  int b,
                  int c,
                  int d,
                  int e,
                  int f,
                  int g,
                  int h,
                  int i);
void call_kinds_10(int a,
                   int b,
                   int c,
                   int d,
                   int e,
                   int f,
                   int g,
                   int h,
                   int i,
                   int j);

void call_kinds_0(void)
{
    CTRACE_CALL(compile, kinds0);
    int declared_after = 0;
    (void)declared_after;
}

void call_kinds_1(int a)
{
    CTRACE_CALL(compile, kinds1, a);
}

void call_kinds_2(signed char a, unsigned char b)
{
    CTRACE_CALL(compile, kinds2, a, b);
}

void call_kinds_3(char a, short b, unsigned short c)
{
    CTRACE_CALL(compile, kinds3, a, b, c);
}

void call_kinds_4(unsigned a, long b, unsigned long c, long long d)
{
    CTRACE_CALL(compile, kinds4, a, b, c, d);
}

void call_kinds_5(unsigned long long a,
                  float b,
                  double c,
                  long double d,
                  bool e)
{
    CTRACE_CALL(compile, kinds5, a, b, c, d, e);
}

void call_kinds_6(char *a,
                  const char *b,
                  void *c,
                  const void *d,
                  const int *e,
                  struct ctrace_value f)
{
    CTRACE_CALL(compile, kinds6, a, b, c, d, e, f);
}

void call_kinds_7(int8_t a,
                  uint8_t b,
                  int16_t c,
                  uint16_t d,
                  int32_t e,
                  uint32_t f,
                  int64_t g)
{
    CTRACE_CALL(compile, kinds7, a, b, c, d, e, f, g);
}

void call_kinds_8(uint64_t a,
                  size_t b,
                  ptrdiff_t c,
                  intptr_t d,
                  uintptr_t e,
                  enum colour f,
                  struct flags g,
                  const char h[])
{
    /* A bit-field has no type _Generic can select: convert it. */
    CTRACE_CALL(compile, kinds8, a, b, c, d, e, f, (unsigned)g.bit, h);
}

void call_kinds_9(int a, int b, int c, int d, int e, int f, int g, int h, int i)
{
    char buf[8] = "Tihon";
    CTRACE_CALL(compile, kinds9, a, b, c, d, e, f, g, h, i);
    CTRACE_EVENT(compile,
                 literals,
                 "Murka",
                 'x',
                 1.0f,
                 2.0,
                 3u,
                 -4,
                 NULL,
                 buf,
                 &buf[1],
                 ctrace_value_symbol("ok"));
}

void call_kinds_10(int a,
                   int b,
                   int c,
                   int d,
                   int e,
                   int f,
                   int g,
                   int h,
                   int i,
                   int j)
{
    CTRACE_CALL(compile,
                kinds10,
                a + 1,
                b * 2,
                c - d,
                (long)e,
                f > g,
                h ? 1 : 0,
                i,
                j,
                (const char *)0,
                ctrace_value_bytes(&a, sizeof(a)));
}
