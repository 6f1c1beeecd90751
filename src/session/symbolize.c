/* SPDX-License-Identifier: MIT */
/*
 * Symbolizing return addresses with elfutils' libdwfl; see symbolize.h.
 */
#include <elfutils/libdwfl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/base.h"
#include "session/symbolize.h"

struct ctrace__symbolizer {
    Dwfl *dwfl;
    bool refreshed; /* re-read the module list once for late libraries */
};

/* libdwfl keeps a pointer to this; NULL means its default search path. */
static char *debuginfo_path;

static const Dwfl_Callbacks callbacks = {
    .find_elf = dwfl_linux_proc_find_elf,
    .find_debuginfo = dwfl_standard_find_debuginfo,
    .debuginfo_path = &debuginfo_path,
};

static Dwfl *report_modules(void)
{
    Dwfl *dwfl = dwfl_begin(&callbacks);
    if (dwfl == NULL)
        return NULL;
    if (dwfl_linux_proc_report(dwfl, getpid()) != 0 ||
        dwfl_report_end(dwfl, NULL, NULL) != 0) {
        dwfl_end(dwfl);
        return NULL;
    }
    return dwfl;
}

struct ctrace__symbolizer *ctrace__symbolizer_new(void)
{
    return ctrace__calloc(1, sizeof(struct ctrace__symbolizer));
}

void ctrace__symbolizer_free(struct ctrace__symbolizer *s)
{
    if (s == NULL)
        return;
    if (s->dwfl != NULL)
        dwfl_end(s->dwfl);
    ctrace__free(s);
}

static Dwfl_Module *find_module(struct ctrace__symbolizer *s, Dwarf_Addr a)
{
    if (s->dwfl == NULL)
        s->dwfl = report_modules();
    if (s->dwfl == NULL)
        return NULL;
    Dwfl_Module *mod = dwfl_addrmodule(s->dwfl, a);
    if (mod == NULL && !s->refreshed) {
        s->refreshed = true;
        dwfl_end(s->dwfl);
        s->dwfl = report_modules();
        mod = s->dwfl != NULL ? dwfl_addrmodule(s->dwfl, a) : NULL;
    }
    return mod;
}

void ctrace__symbolize(struct ctrace__symbolizer *s,
                       void *addr,
                       char *buf,
                       size_t size)
{
    if (size == 0)
        return;
    snprintf(buf, size, "%p", addr);
    if (s == NULL || addr == NULL)
        return;
    /*
     * A return address is the instruction after the call; one byte back is
     * inside the call, whose function and line are the ones meant.
     */
    Dwarf_Addr a = (Dwarf_Addr)(uintptr_t)addr - 1;
    Dwfl_Module *mod = find_module(s, a);
    if (mod == NULL)
        return;
    GElf_Off offset = 0;
    GElf_Sym sym;
    const char *name =
        dwfl_module_addrinfo(mod, a, &offset, &sym, NULL, NULL, NULL);
    const char *modname =
        dwfl_module_info(mod, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
    const char *base = modname != NULL ? strrchr(modname, '/') : NULL;
    base = base != NULL ? base + 1 : modname;

    int lineno = 0;
    const char *file = NULL;
    Dwfl_Line *line = dwfl_module_getsrc(mod, a);
    if (line != NULL)
        file = dwfl_lineinfo(line, NULL, &lineno, NULL, NULL, NULL);
    const char *fbase = file != NULL ? strrchr(file, '/') : NULL;
    fbase = fbase != NULL ? fbase + 1 : file;

    if (name != NULL && fbase != NULL && lineno > 0)
        snprintf(buf, size, "%s (%s:%d)", name, fbase, lineno);
    else if (name != NULL)
        snprintf(buf,
                 size,
                 "%s+0x%llx (%s)",
                 name,
                 (unsigned long long)offset + 1,
                 base != NULL ? base : "?");
    else if (base != NULL)
        snprintf(buf, size, "%p (%s)", addr, base);
}
