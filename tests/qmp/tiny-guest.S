/* tiny-guest.S — source of tests/qmp/tiny-guest.h. Rebuild with:
 *   as --32 tiny-guest.S -o g.o && ld -m elf_i386 -Ttext 0x100000 --oformat binary g.o -o g.bin && xxd -i g.bin */
/* Tiny multiboot guest: enables the ACPI power button, waits for it, then
 * powers off (mode 0) or resets through port 0xCF9 (mode 1). */
        .code32
        .section .text
        .globl _start
_start:
header:
        .long 0x1BADB002
        .long 0x00010000
        .long -(0x1BADB002 + 0x00010000)
        .long header          /* header_addr */
        .long header          /* load_addr */
        .long 0               /* load_end_addr: whole file */
        .long 0               /* bss_end_addr */
        .long entry           /* entry_addr */
mode:
        .long 0
entry:
        cli
        mov $0x80000B40, %eax     /* PIIX4 PM (00:01.3) PMBASE */
        mov $0xCF8, %dx
        out %eax, %dx
        mov $0xCFC, %dx
        in %dx, %eax
        and $0xFFC0, %eax
        mov %eax, %ebx
        lea 2(%ebx), %edx         /* PM1_EN: power button */
        mov $0x0100, %ax
        out %ax, %dx
poll:
        mov $200000, %ecx         /* spin without I/O: port reads take qemu's big lock */
spin:
        dec %ecx
        jnz spin
        mov %ebx, %edx            /* PM1_STS */
        in %dx, %ax
        test $0x0100, %ax
        jz poll
        cmpl $1, mode
        je reset
        lea 4(%ebx), %edx         /* PM1_CNT: SLP_EN, SLP_TYP 0 = soft off */
        mov $0x2000, %ax
        out %ax, %dx
        jmp halt
reset:
        mov $0xCF9, %dx
        mov $0x06, %al
        out %al, %dx
halt:
        hlt
        jmp halt
