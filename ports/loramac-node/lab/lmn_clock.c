/*
 * lmn_clock.c - the RTC that upstream's timer.c and systime.c run on, for
 * the lab (lmn_lab.h, "Time"): one tick is one millisecond of the lab's
 * clock, which is the host's monotonic clock plus the idle time skipped.
 * The calendar (RtcGetCalendarTime, under SysTimeGet) is the host's real
 * time at start plus the same clock, so skipped time moves it too, as a
 * real device's calendar moves while it sleeps through a back-off.
 *
 * Also the few board functions of utilities.h that are not generic
 * (critical sections) and delay-board.h. The whole board runs on the main
 * loop's one thread: the "alarm interrupt" is lmn_clock_service(), called
 * from that loop, so a critical section has nothing to mask.
 *
 * Singleton state (LoRaMac-node's RTC API has no context argument): the
 * start time, the skipped time, the timer context and the alarm.
 */
#include <stdint.h>
#include <time.h>

#include "lmn_lab.h"
#include "rtc-board.h"
#include "delay-board.h"
#include "timer.h"
#include "utilities.h"

static struct {
    struct timespec start;       /* monotonic, at lmn_clock_init */
    struct timespec calendar0;   /* realtime, at lmn_clock_init */
    uint64_t skipped_ms;
    uint32_t context;            /* RtcSetTimerContext's reference, in ticks */
    uint32_t alarm;              /* absolute tick of the alarm */
    bool alarm_set;
    uint32_t bkup[2];            /* RtcBkupWrite: SysTimeSet's offset */
} clk;

void lmn_clock_init(void)
{
    clock_gettime(CLOCK_MONOTONIC, &clk.start);
    clock_gettime(CLOCK_REALTIME, &clk.calendar0);
    clk.skipped_ms = 0;
    clk.alarm_set = false;
}

uint64_t lmn_clock_ms(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    int64_t ms = (int64_t)(now.tv_sec - clk.start.tv_sec) * 1000 + (now.tv_nsec - clk.start.tv_nsec) / 1000000;
    return (uint64_t)(ms > 0 ? ms : 0) + clk.skipped_ms;
}

static uint32_t ticks(void)
{
    return (uint32_t)lmn_clock_ms();   /* wraps after 49 days, as timer.c expects of a 32-bit RTC */
}

void lmn_clock_skip(uint64_t ms)
{
    clk.skipped_ms += ms;
}

uint64_t lmn_clock_skipped_ms(void)
{
    return clk.skipped_ms;
}

int64_t lmn_clock_until_alarm(void)
{
    if (!clk.alarm_set)
        return -1;
    int32_t left = (int32_t)(clk.alarm - ticks());   /* wrap-safe difference */
    return left > 0 ? left : 0;
}

bool lmn_clock_service(void)
{
    if (!clk.alarm_set || (int32_t)(clk.alarm - ticks()) > 0)
        return false;
    clk.alarm_set = false;
    TimerIrqHandler();
    return true;
}

/* ---- rtc-board.h ---- */

void RtcInit(void)
{
}

uint32_t RtcGetMinimumTimeout(void)
{
    return 1;
}

uint32_t RtcMs2Tick(TimerTime_t milliseconds)
{
    return milliseconds;
}

TimerTime_t RtcTick2Ms(uint32_t tick)
{
    return tick;
}

void RtcDelayMs(TimerTime_t milliseconds)
{
    struct timespec ts = {.tv_sec = milliseconds / 1000, .tv_nsec = (long)(milliseconds % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* timer.c hands the alarm relative to the context it set last. */
void RtcSetAlarm(uint32_t timeout)
{
    RtcStartAlarm(timeout);
}

void RtcStopAlarm(void)
{
    clk.alarm_set = false;
}

void RtcStartAlarm(uint32_t timeout)
{
    clk.alarm = clk.context + timeout;
    clk.alarm_set = true;
}

uint32_t RtcSetTimerContext(void)
{
    clk.context = ticks();
    return clk.context;
}

uint32_t RtcGetTimerContext(void)
{
    return clk.context;
}

uint32_t RtcGetCalendarTime(uint16_t *milliseconds)
{
    uint64_t ms = lmn_clock_ms() + (uint64_t)clk.calendar0.tv_nsec / 1000000u;
    if (milliseconds != NULL)
        *milliseconds = (uint16_t)(ms % 1000);
    return (uint32_t)((uint64_t)clk.calendar0.tv_sec + ms / 1000);
}

uint32_t RtcGetTimerValue(void)
{
    return ticks();
}

uint32_t RtcGetTimerElapsedTime(void)
{
    return ticks() - clk.context;
}

void RtcBkupWrite(uint32_t data0, uint32_t data1)
{
    clk.bkup[0] = data0, clk.bkup[1] = data1;
}

void RtcBkupRead(uint32_t *data0, uint32_t *data1)
{
    *data0 = clk.bkup[0], *data1 = clk.bkup[1];
}

void RtcProcess(void)
{
}

TimerTime_t RtcTempCompensation(TimerTime_t period, float temperature)
{
    (void)temperature;
    return period;
}

/* ---- delay-board.h, utilities.h (the board's part) ---- */

void DelayMsMcu(uint32_t ms)
{
    RtcDelayMs(ms);
}

void BoardCriticalSectionBegin(uint32_t *mask)
{
    *mask = 0;
}

void BoardCriticalSectionEnd(uint32_t *mask)
{
    (void)mask;
}
