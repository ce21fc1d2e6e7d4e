/* sig.h: signal names and numbers, as scenarios and profiles write them.
 *
 * Any signal the kernel knows can be named: "QUIT", "SIGQUIT", "quit" or
 * its number "3" (1..64, real-time ones included), and "RTMIN+N" /
 * "RTMAX-N". Pure functions; no state.
 */
#ifndef HR_SIG_H
#define HR_SIG_H

#include <stddef.h>

/* The signal number of name, or 0 if it names no signal. */
int hr_signal_from_name(const char *name);

/* "SIGQUIT", "SIGRTMIN+2", or "signal 99" for an unknown number; into buf. */
const char *hr_signal_name(int signo, char *buf, size_t len);
#define HR_SIGNAL_NAME(signo) hr_signal_name((signo), (char[32]){0}, 32)

#endif
