/* switch_aarch64.S - csp__coro_switch and csp__coro_init for AAPCS64
 * (ELF, LP64). See coro.h for the contract.
 *
 * A suspended context is its stack pointer; the stack holds a 160-byte
 * frame, from that pointer upwards:
 *
 *     sp+0   x19 x20   sp+16  x21 x22   sp+32  x23 x24   sp+48 x25 x26
 *     sp+64  x27 x28   sp+80  x29 x30 (lr: the resume address)
 *     sp+96  d8  d9    sp+112 d10 d11   sp+128 d12 d13   sp+144 d14 d15
 *
 * Invariants:
 *   - Exactly the callee-saved state is saved: x19-x29, lr, sp and d8-d15
 *     (the low 64 bits of v8-v15; the upper halves and every other vector
 *     register are caller-saved). x18, the platform register, is left
 *     alone. FPCR/FPSR are not saved (DESIGN §4.1).
 *   - sp stays 16-byte aligned throughout, as AAPCS64 requires.
 *   - The switch returns with `ret` (to lr): `ret` is exempt from BTI,
 *     whereas `br` to a call site would fault on a BTI-guarded page.
 *     x0 carries the switch's ARG.
 *   - A new context resumes in trampoline, which calls ENTRY(ARG0, arg)
 *     with blr. Its frame pointer is 0 and its CFI marks lr undefined, so
 *     unwinders stop there.
 *   - Entry points carry `hint #34` (bti c, a NOP before ARMv8.5), and the
 *     file claims the BTI GNU property. It claims no PAC property: it
 *     signs nothing (it never returns through an lr it did not receive).
 */
#include "coro_arch.h"

#if defined(CSP__CORO_AARCH64)

        .text

/* void *csp__coro_switch(void **from_sp, void *to_sp, void *arg)
 *                        x0               x1           x2         */
        .p2align 4
        .globl  csp__coro_switch
        .hidden csp__coro_switch
        .type   csp__coro_switch, %function
csp__coro_switch:
        .cfi_startproc
        hint    #34                     /* bti c */
        sub     sp, sp, #160
        .cfi_def_cfa_offset 160
        stp     x19, x20, [sp, #0]
        stp     x21, x22, [sp, #16]
        stp     x23, x24, [sp, #32]
        stp     x25, x26, [sp, #48]
        stp     x27, x28, [sp, #64]
        stp     x29, x30, [sp, #80]
        stp     d8, d9, [sp, #96]
        stp     d10, d11, [sp, #112]
        stp     d12, d13, [sp, #128]
        stp     d14, d15, [sp, #144]
        .cfi_offset x19, -160
        .cfi_offset x20, -152
        .cfi_offset x21, -144
        .cfi_offset x22, -136
        .cfi_offset x23, -128
        .cfi_offset x24, -120
        .cfi_offset x25, -112
        .cfi_offset x26, -104
        .cfi_offset x27, -96
        .cfi_offset x28, -88
        .cfi_offset x29, -80
        .cfi_offset x30, -72
        .cfi_offset d8, -64
        .cfi_offset d9, -56
        .cfi_offset d10, -48
        .cfi_offset d11, -40
        .cfi_offset d12, -32
        .cfi_offset d13, -24
        .cfi_offset d14, -16
        .cfi_offset d15, -8

        mov     x9, sp
        str     x9, [x0]
        mov     sp, x1                  /* same frame layout: the CFI holds */

        ldp     x19, x20, [sp, #0]
        ldp     x21, x22, [sp, #16]
        ldp     x23, x24, [sp, #32]
        ldp     x25, x26, [sp, #48]
        ldp     x27, x28, [sp, #64]
        ldp     x29, x30, [sp, #80]
        ldp     d8, d9, [sp, #96]
        ldp     d10, d11, [sp, #112]
        ldp     d12, d13, [sp, #128]
        ldp     d14, d15, [sp, #144]
        add     sp, sp, #160
        .cfi_def_cfa_offset 0
        .cfi_restore x19
        .cfi_restore x20
        .cfi_restore x21
        .cfi_restore x22
        .cfi_restore x23
        .cfi_restore x24
        .cfi_restore x25
        .cfi_restore x26
        .cfi_restore x27
        .cfi_restore x28
        .cfi_restore x29
        .cfi_restore x30
        .cfi_restore d8
        .cfi_restore d9
        .cfi_restore d10
        .cfi_restore d11
        .cfi_restore d12
        .cfi_restore d13
        .cfi_restore d14
        .cfi_restore d15
        mov     x0, x2
        ret
        .cfi_endproc
        .size   csp__coro_switch, .-csp__coro_switch

/* First code of a new context, returned to by csp__coro_switch with
 * sp = top (16-byte aligned), x19 = ENTRY, x20 = ARG0, x0 = the switch's
 * ARG, x29 = 0. */
        .p2align 4
        .type   trampoline, %function
trampoline:
        .cfi_startproc
        .cfi_undefined x30
        hint    #34                     /* bti c */
        mov     x1, x0
        mov     x0, x20
        blr     x19
        brk     #0                      /* ENTRY must not return */
        .cfi_endproc
        .size   trampoline, .-trampoline

/* void csp__coro_init(void **sp, void *lo, size_t size,
 *                     x0         x1        x2
 *                     void (*entry)(void *, void *), void *arg0)
 *                     x3                             x4            */
        .p2align 4
        .globl  csp__coro_init
        .hidden csp__coro_init
        .type   csp__coro_init, %function
csp__coro_init:
        .cfi_startproc
        hint    #34                     /* bti c */
        add     x9, x1, x2
        and     x9, x9, #~15            /* top, 16-byte aligned */
        sub     x9, x9, #160
        stp     x3, x4, [x9, #0]        /* x19 = entry, x20 = arg0 */
        stp     xzr, xzr, [x9, #16]
        stp     xzr, xzr, [x9, #32]
        stp     xzr, xzr, [x9, #48]
        stp     xzr, xzr, [x9, #64]
        adr     x10, trampoline
        stp     xzr, x10, [x9, #80]     /* x29 = 0, lr = trampoline */
        stp     xzr, xzr, [x9, #96]
        stp     xzr, xzr, [x9, #112]
        stp     xzr, xzr, [x9, #128]
        stp     xzr, xzr, [x9, #144]
        str     x9, [x0]
        ret
        .cfi_endproc
        .size   csp__coro_init, .-csp__coro_init

#if defined(__linux__)
/* GNU_PROPERTY_AARCH64_FEATURE_1_AND: BTI (bit 0). */
        .pushsection .note.gnu.property, "a"
        .p2align 3
        .word   4                       /* name size */
        .word   16                      /* descriptor size */
        .word   5                       /* NT_GNU_PROPERTY_TYPE_0 */
        .asciz  "GNU"
        .word   0xc0000000              /* GNU_PROPERTY_AARCH64_FEATURE_1_AND */
        .word   4                       /* data size */
        .word   1                       /* BTI */
        .word   0                       /* padding to 8 */
        .popsection
#endif

#endif /* CSP__CORO_AARCH64 */

#if defined(__ELF__)
        .section .note.GNU-stack, "", %progbits
#endif
