/* coro_arch.h - which context-switch backend this build uses. Only
 * preprocessor definitions, so the .S files can include it too.
 *
 * Exactly one of these is defined to 1:
 *   CSP__CORO_X86_64   switch_x86_64.S   (ELF, x86-64 SysV, LP64)
 *   CSP__CORO_AARCH64  switch_aarch64.S  (ELF, AAPCS64, LP64)
 *   CSP__CORO_UCONTEXT switch_ucontext.c (any other POSIX target, or
 *                      forced with -DCSP_CORO_UCONTEXT=1, which must then
 *                      be defined for every file that includes coro.h)
 *
 * Every backend file compiles to nothing unless selected, so a build may
 * list all of them.
 */
#ifndef CSP_CORO_ARCH_H
#define CSP_CORO_ARCH_H

#if defined(CSP_CORO_UCONTEXT) && CSP_CORO_UCONTEXT
#define CSP__CORO_UCONTEXT 1
#elif defined(__ELF__) && defined(__x86_64__) && !defined(__ILP32__)
#define CSP__CORO_X86_64 1
#elif defined(__ELF__) && defined(__aarch64__) && !defined(__ILP32__)
#define CSP__CORO_AARCH64 1
#else
#define CSP__CORO_UCONTEXT 1
#endif

#endif /* CSP_CORO_ARCH_H */
