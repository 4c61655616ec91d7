/* target_flash.c - the element's flash in RAM (target_flash.h says why). */
#include "target_flash.h"

#include <string.h>

static se_status flash_read(void *ctx, uint32_t page, uint32_t off, uint8_t *buf, size_t len)
{
    target_flash *f = ctx;
    if (page >= TARGET_FLASH_PAGES || off > TARGET_FLASH_PAGE || len > TARGET_FLASH_PAGE - off)
        return SE_ERR_NVM;
    memcpy(buf, f->page[page] + off, len);
    return SE_OK;
}

static se_status flash_program(void *ctx, uint32_t page, uint32_t off, const uint8_t *buf, size_t len)
{
    target_flash *f = ctx;
    if (page >= TARGET_FLASH_PAGES || off % 8 != 0 || len % 8 != 0 || off > TARGET_FLASH_PAGE ||
        len > TARGET_FLASH_PAGE - off)
        return SE_ERR_NVM;
    for (size_t i = 0; i < len; i++)
        if (f->page[page][off + i] != 0xFF)
            return SE_ERR_NVM;   /* a double-word programmed twice: the chip refuses it too */
    memcpy(f->page[page] + off, buf, len);
    f->writes++;
    return SE_OK;
}

static se_status flash_erase(void *ctx, uint32_t page)
{
    target_flash *f = ctx;
    if (page >= TARGET_FLASH_PAGES)
        return SE_ERR_NVM;
    memset(f->page[page], 0xFF, TARGET_FLASH_PAGE);
    f->writes++;
    return SE_OK;
}

static const se_nvm_class flash_class = {.read = flash_read, .program = flash_program, .erase = flash_erase};

se_nvm target_flash_bind(target_flash *f)
{
    se_nvm n = {.cls = &flash_class, .ctx = f,
                .geometry = {.page_size = TARGET_FLASH_PAGE, .page_count = TARGET_FLASH_PAGES, .program_unit = 8}};
    return n;
}
