# roff.py — the escaping and inline markup the man page generators share.
import re

_OPTION = re.compile(r'(?<![\w-])(--?[A-Za-z0-9][A-Za-z0-9-]*)')
_METAVAR = re.compile(r'(?<![\w$-])([A-Z][A-Z0-9_]*(?:-[A-Z0-9_]+)*)(?![\w])')


def esc(text):
    """Plain text as roff: backslashes, dashes, non-ASCII characters."""
    out = []
    for ch in text:
        if ch == '\\':
            out.append('\\e')
        elif ch == '-':
            out.append('\\-')
        elif ord(ch) > 127:
            out.append('\\[u%04X]' % ord(ch))
        else:
            out.append(ch)
    return ''.join(out)


def line(text):
    """One input line: a line starting with . or ' would be a request."""
    return '\\&' + text if text[:1] in ('.', "'") else text


def usage(text):
    """A usage string: options bold, upper-case argument names italic."""
    parts = []
    pos = 0
    pattern = re.compile(_OPTION.pattern + '|' + _METAVAR.pattern)
    for m in pattern.finditer(text):
        parts.append(esc(text[pos:m.start()]))
        if m.group(1):
            parts.append('\\fB' + esc(m.group(1)) + '\\fR')
        else:
            parts.append('\\fI' + esc(m.group(2)) + '\\fR')
        pos = m.end()
    parts.append(esc(text[pos:]))
    return ''.join(parts)


def code(text):
    """Text with `code` spans (Markdown) as bold."""
    out = []
    for i, piece in enumerate(text.split('`')):
        out.append('\\fB' + esc(piece) + '\\fR' if i % 2 else esc(piece))
    return ''.join(out)


def fill(template, values):
    """Replaces @KEY@ lines of a template; every key must be used once."""
    for key, value in values.items():
        marker = '@' + key + '@'
        if marker not in template:
            raise SystemExit('template has no ' + marker)
        template = template.replace(marker, value)
    left = re.findall(r'@[A-Z_]+@', template)
    if left:
        raise SystemExit('template markers left: ' + ', '.join(left))
    return template
