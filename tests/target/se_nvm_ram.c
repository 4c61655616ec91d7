/* se_nvm_ram.c - the element's NVM in RAM (se_nvm_ram.h says why). */
#include "se_nvm_ram.h"

#include <string.h>

static se_status ram_read(void *ctx, unsigned bank, uint8_t *buf, size_t len)
{
    se_nvm_ram *r = ctx;
    if (bank > 1 || len > SE_NVM_BANK_SIZE)
        return SE_ERR_NVM;
    memcpy(buf, r->bank[bank], len);
    return SE_OK;
}

static se_status ram_write(void *ctx, unsigned bank, const uint8_t *buf, size_t len)
{
    se_nvm_ram *r = ctx;
    if (bank > 1 || len > SE_NVM_BANK_SIZE)
        return SE_ERR_NVM;
    memcpy(r->bank[bank], buf, len);
    r->writes++;
    return SE_OK;
}

static const se_nvm_class ram_class = {.read = ram_read, .write = ram_write};

se_nvm se_nvm_ram_bind(se_nvm_ram *r)
{
    se_nvm n = {.cls = &ram_class, .ctx = r};
    return n;
}
