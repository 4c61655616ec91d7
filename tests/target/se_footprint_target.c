/*
 * se_footprint_target.c - what a firmware carries for the element: the
 * three entry points (se_manufacture, se_boot, se_apdu_process), the
 * compact crypto backend, the element's context and one command and one
 * response APDU buffer. Linked with section garbage collection, its size
 * minus target_empty.c's is the element's code and static RAM
 * (bench/se_footprint.sh). The NVM stand-in is flash on a chip: the bench
 * subtracts it from RAM.
 */
#include "lorawan/lw_crypto.h"
#include "se/se_apdu.h"
#include "se_nvm_ram.h"

se_nvm_ram footprint_flash_stand_in;
static se element;
static uint8_t command[5 + 255 + 1];
static uint8_t response[SE_APDU_MAX_RESPONSE];

int main(void)
{
    se_nvm nvm = se_nvm_ram_bind(&footprint_flash_stand_in);
    if (se_boot(&element, &nvm, lw_crypto_compact()) != SE_OK &&
        se_manufacture(&element, &nvm, lw_crypto_compact(), command) != SE_OK)
        return 1;
    /* The host would fill `command` through the chip's interface; a
     * volatile length keeps the compiler from knowing it. */
    volatile size_t len = sizeof(command);
    size_t n = 0;
    return se_apdu_process(&element, command, len, response, sizeof(response), &n) == SE_OK ? 0 : 1;
}
