/*
 * se_footprint_target.c - what a firmware carries for the element: the
 * three entry points (se_manufacture, se_boot, se_apdu_process), the
 * compact crypto backend, the element's context and its one APDU buffer
 * (command in, answer out, as on a smart card). Linked with section garbage collection, its size
 * minus target_empty.c's is the element's code and static RAM
 * (bench/se_footprint.sh). The NVM stand-in is flash on a chip: the bench
 * subtracts it from RAM.
 */
#include "lorawan/lw_crypto.h"
#include "se/se_apdu.h"
#include "target_flash.h"

target_flash footprint_flash_stand_in;
static se element;
static uint8_t apdu[SE_APDU_BUFFER];

int main(void)
{
    se_nvm nvm = target_flash_bind(&footprint_flash_stand_in);
    if (se_boot(&element, &nvm, lw_crypto_compact()) != SE_OK &&
        se_manufacture(&element, &nvm, lw_crypto_compact(), apdu) != SE_OK)
        return 1;
    /* The host would fill the buffer through the chip's interface; a
     * volatile length keeps the compiler from knowing it. */
    volatile size_t len = sizeof(apdu);
    size_t n = 0;
    return se_apdu_process(&element, apdu, len, apdu, sizeof(apdu), &n) == SE_OK ? 0 : 1;
}
