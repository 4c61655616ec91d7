/*
 * se_nvm_ram.c - NOR flash in RAM with its rules and its tears.
 *
 * The tears are deterministic (noise from the operation's number), so a
 * failing power-cut test replays exactly.
 */
#include "sehost/se_nvm_ram.h"

#include <string.h>

const se_nvm_geometry se_nvm_ram_default_geometry = {.page_size = 2048, .page_count = 4, .program_unit = 8};

uint32_t se_nvm_ram_size(const se_nvm_ram *r)
{
    return r->geometry.page_size * r->geometry.page_count;
}

static bool geometry_fits(const se_nvm_geometry *g)
{
    uint32_t u = g->program_unit;
    return g->page_count >= 1 && g->page_count <= SE_NVM_PAGES_MAX && g->page_size > 0 &&
           (u == 1 || u == 2 || u == 4 || u == 8) && g->page_size % u == 0 &&
           (uint64_t)g->page_size * g->page_count <= SE_NVM_RAM_MAX;
}

static uint8_t noise(unsigned seed, size_t i)
{
    uint32_t x = (uint32_t)seed * 2654435761u + (uint32_t)i * 40503u + 1u;
    x ^= x >> 13;
    x *= 0x5bd1e995u;
    return (uint8_t)(x >> 16);
}

/* True when the operation about to run is the cut one: counts it, and
 * turns the power off. */
static bool cut_now(se_nvm_ram *r, unsigned *how)
{
    r->writes++;
    if (r->cut_at == 0 || r->writes != r->cut_at)
        return false;
    r->power_off = true;
    *how = r->tear != 0 ? r->tear : r->writes % SE_NVM_TEAR_WAYS + 1;
    return true;
}

static se_status ram_read(void *ctx, uint32_t page, uint32_t offset, uint8_t *buf, size_t len)
{
    se_nvm_ram *r = ctx;
    if (page >= r->geometry.page_count || offset > r->geometry.page_size || len > r->geometry.page_size - offset)
        return SE_ERR_NVM;
    memcpy(buf, r->mem + (size_t)page * r->geometry.page_size + offset, len);
    return SE_OK;
}

static se_status ram_program(void *ctx, uint32_t page, uint32_t offset, const uint8_t *buf, size_t len)
{
    se_nvm_ram *r = ctx;
    uint32_t unit = r->geometry.program_unit;
    if (r->power_off)
        return SE_ERR_NVM;
    if (page >= r->geometry.page_count || offset % unit != 0 || len % unit != 0 || len == 0 ||
        offset > r->geometry.page_size || len > r->geometry.page_size - offset) {
        r->violations++;
        return SE_ERR_NVM;
    }
    uint8_t *p = r->mem + (size_t)page * r->geometry.page_size + offset;
    for (size_t i = 0; i < len; i++) {
        if (p[i] != 0xFF) {
            r->violations++;   /* a unit programmed twice without an erase */
            return SE_ERR_NVM;
        }
    }
    unsigned how = 0;
    if (!cut_now(r, &how)) {
        memcpy(p, buf, len);
        r->programs++;
        return SE_OK;
    }
    for (size_t i = 0; i < len; i++) {
        switch (how) {
        case 1: break;
        case 2: if (i == 0) p[i] = buf[i]; break;
        case 3: p[i] = buf[i] | 0xAA; break;
        case 4: p[i] = buf[i] | noise(r->writes, i); break;
        case 5: if (i < len / 2) p[i] = buf[i]; break;
        case 6: if (i + 1 < len) p[i] = buf[i]; break;
        case 7: p[i] = buf[i] | 0x55; break;
        default: p[i] = buf[i]; break;
        }
    }
    return SE_ERR_NVM;
}

static se_status ram_erase(void *ctx, uint32_t page)
{
    se_nvm_ram *r = ctx;
    if (r->power_off)
        return SE_ERR_NVM;
    if (page >= r->geometry.page_count) {
        r->violations++;
        return SE_ERR_NVM;
    }
    size_t size = r->geometry.page_size;
    uint8_t *p = r->mem + (size_t)page * size;
    r->erases[page]++;   /* a cut erase wears the page all the same */
    unsigned how = 0;
    if (!cut_now(r, &how)) {
        memset(p, 0xFF, size);
        return SE_OK;
    }
    r->cut_erase = true;
    for (size_t i = 0; i < size; i++) {
        switch (how) {
        case 1: break;
        case 2: if (i < size / 2) p[i] = 0xFF; break;
        case 3: p[i] = noise(r->writes, i); break;
        case 4: if (i % 2 == 0) p[i] = 0xFF; break;
        case 5: if (i + 8 < size) p[i] = 0xFF; break;
        case 6: p[i] |= 0x55; break;
        case 7: p[i] = i < 8 ? noise(r->writes, i) : 0xFF; break;
        default: p[i] = 0xFF; break;
        }
    }
    return SE_ERR_NVM;
}

static const se_nvm_class ram_class = {.read = ram_read, .program = ram_program, .erase = ram_erase};

se_status se_nvm_ram_bind(se_nvm_ram *r, se_nvm *nvm)
{
    if (r == NULL || nvm == NULL)
        return SE_ERR_ARGUMENT;
    if (r->geometry.page_size == 0)
        r->geometry = se_nvm_ram_default_geometry;
    if (!geometry_fits(&r->geometry))
        return SE_ERR_ARGUMENT;
    nvm->cls = &ram_class;
    nvm->ctx = r;
    nvm->geometry = r->geometry;
    return SE_OK;
}

se_status se_nvm_ram_format(se_nvm_ram *r, const se_nvm_geometry *g)
{
    if (r == NULL || g == NULL || !geometry_fits(g))
        return SE_ERR_ARGUMENT;
    r->geometry = *g;
    memset(r->mem, 0xFF, sizeof(r->mem));
    return SE_OK;
}
