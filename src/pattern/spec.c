/* SPDX-License-Identifier: MIT */
/*
 * The memory every spec lives in, freeing a spec, and the name tables of the
 * pattern language: actions, guard operators and guard functions.
 *
 * A spec is built once by the parser and then only read, so all its nodes,
 * names and literal bytes come from one arena: an allocation is a pointer
 * bump, freeing is a walk over a short list of chunks, and a parse that
 * fails halfway cannot leak a node.
 */
#include <stdalign.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "pattern/parse_internal.h"

/* The first chunk is small, since most specs are one short line. */
#define CHUNK_FIRST 512
#define CHUNK_MAX   (16 * 1024)

struct chunk {
    struct chunk *next;
    size_t size; /* bytes in data */
    size_t used;
    max_align_t data[]; /* aligned for any type */
};

struct ctrace__arena {
    struct chunk *head; /* the chunk allocations come from */
    size_t next_size;
};

_Thread_local unsigned long ctrace__arena_fail_countdown;

/* malloc or calloc, but failing on purpose when a test asks for it. */
static void *sys_calloc(size_t size)
{
    if (ctrace__arena_fail_countdown > 0 && --ctrace__arena_fail_countdown == 0)
        return NULL;
    return ctrace__calloc(1, size);
}

struct ctrace__arena *ctrace__arena_new(void)
{
    struct ctrace__arena *arena = sys_calloc(sizeof(*arena));
    if (arena != NULL)
        arena->next_size = CHUNK_FIRST;
    return arena;
}

void *ctrace__arena_alloc(struct ctrace__arena *arena, size_t size)
{
    const size_t align = alignof(max_align_t);
    if (size == 0)
        size = 1;
    if (size > SIZE_MAX / 2)
        return NULL;
    size = (size + align - 1) & ~(align - 1);
    struct chunk *c = arena->head;
    if (c == NULL || c->size - c->used < size) {
        size_t want = arena->next_size;
        if (want < size)
            want = size;
        c = sys_calloc(sizeof(*c) + want);
        if (c == NULL)
            return NULL;
        c->size = want;
        /*
         * A big allocation gets a chunk of its own behind the current one,
         * so the room left in the current chunk is not thrown away.
         */
        if (arena->head != NULL && size > arena->next_size) {
            c->next = arena->head->next;
            arena->head->next = c;
        } else {
            c->next = arena->head;
            arena->head = c;
            if (arena->next_size < CHUNK_MAX)
                arena->next_size *= 2;
        }
    }
    void *p = (unsigned char *)c->data + c->used;
    c->used += size;
    return p;
}

char *
ctrace__arena_strndup(struct ctrace__arena *arena, const char *s, size_t len)
{
    if (len == SIZE_MAX)
        return NULL;
    char *p = ctrace__arena_alloc(arena, len + 1);
    if (p != NULL && len > 0)
        memcpy(p, s, len);
    return p;
}

void ctrace__arena_free(struct ctrace__arena *arena)
{
    if (arena == NULL)
        return;
    struct chunk *c = arena->head;
    while (c != NULL) {
        struct chunk *next = c->next;
        ctrace__free(c);
        c = next;
    }
    ctrace__free(arena);
}

void ctrace__spec_free(struct ctrace__spec *spec)
{
    /* The spec itself lives in its arena. */
    if (spec != NULL)
        ctrace__arena_free(spec->arena);
}

const char *ctrace__action_name(enum ctrace__action action)
{
    switch (action) {
    case CTRACE__ACTION_RETURN:
        return "return";
    case CTRACE__ACTION_STACK:
        return "stack";
    case CTRACE__ACTION_CALLER:
        return "caller";
    case CTRACE__ACTION_DUMP:
        return "dump";
    case CTRACE__ACTION_TIME:
        return "time";
    case CTRACE__ACTION_COUNT:
        return "count";
    }
    return "unknown";
}

const char *const ctrace__op_names[CTRACE__OP_COUNT__] = {
    [CTRACE__OP_EQ] = "==",
    [CTRACE__OP_NE] = "/=",
    [CTRACE__OP_EXACT_EQ] = "=:=",
    [CTRACE__OP_EXACT_NE] = "=/=",
    [CTRACE__OP_LT] = "<",
    [CTRACE__OP_GT] = ">",
    [CTRACE__OP_LE] = "=<",
    [CTRACE__OP_GE] = ">=",
    [CTRACE__OP_ANDALSO] = "andalso",
    [CTRACE__OP_ORELSE] = "orelse",
    [CTRACE__OP_AND] = "and",
    [CTRACE__OP_OR] = "or",
    [CTRACE__OP_XOR] = "xor",
    [CTRACE__OP_NOT] = "not",
    [CTRACE__OP_ADD] = "+",
    [CTRACE__OP_SUB] = "-",
    [CTRACE__OP_MUL] = "*",
    [CTRACE__OP_DIV] = "div",
    [CTRACE__OP_REM] = "rem",
    [CTRACE__OP_NEG] = "-",
};

const struct ctrace__gfun_info ctrace__gfun_table[CTRACE__GF_COUNT__] = {
    [CTRACE__GF_IS_INTEGER] = {"is_integer", 1},
    [CTRACE__GF_IS_FLOAT] = {"is_float", 1},
    [CTRACE__GF_IS_NUMBER] = {"is_number", 1},
    [CTRACE__GF_IS_ATOM] = {"is_atom", 1},
    [CTRACE__GF_IS_BOOLEAN] = {"is_boolean", 1},
    [CTRACE__GF_IS_BINARY] = {"is_binary", 1},
    [CTRACE__GF_IS_LIST] = {"is_list", 1},
    [CTRACE__GF_IS_TUPLE] = {"is_tuple", 1},
    [CTRACE__GF_ELEMENT] = {"element", 2},
    [CTRACE__GF_HD] = {"hd", 1},
    [CTRACE__GF_TL] = {"tl", 1},
    [CTRACE__GF_LENGTH] = {"length", 1},
    [CTRACE__GF_SIZE] = {"size", 1},
    [CTRACE__GF_BYTE_SIZE] = {"byte_size", 1},
    [CTRACE__GF_TUPLE_SIZE] = {"tuple_size", 1},
    [CTRACE__GF_BINARY_PART] = {"binary_part", 3},
    [CTRACE__GF_ABS] = {"abs", 1},
    [CTRACE__GF_MIN] = {"min", 2},
    [CTRACE__GF_MAX] = {"max", 2},
    [CTRACE__GF_TRUNC] = {"trunc", 1},
    [CTRACE__GF_ROUND] = {"round", 1},
    [CTRACE__GF_FLOAT] = {"float", 1},
};
