#!/usr/bin/env python3
# gen-vmgmtctl-man.py VMGMTCTL TEMPLATE OUTPUT VERSION — vmgmtctl(1) from the
# built vmgmtctl: its global options from `vmgmtctl --help`, every command's
# usage, summary and options from `vmgmtctl help COMMAND` (the command
# table), put into the hand-written TEMPLATE at @GLOBAL_OPTIONS@ and
# @COMMANDS@. A command added to the table is in the page at the next build.
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import roff  # noqa: E402


def run(exe, *args):
    env = dict(os.environ, LC_ALL='C.UTF-8')
    env.pop('VMGMTCTL_PAGER', None)
    return subprocess.run([exe, '--no-pager', *args], check=True, capture_output=True, text=True, env=env).stdout


def sections(text):
    """Splits help output into {'Commands': [lines], 'Options': [lines], ...}."""
    out, name = {}, None
    for ln in text.splitlines():
        m = re.match(r'^([A-Z][A-Za-z ]*):$', ln)
        if m:
            name = m.group(1)
            out[name] = []
        elif name is not None:
            if ln.strip() == '' and out[name]:
                name = None
            elif ln.strip():
                out[name].append(ln)
    return out


def verbs_of(global_help):
    verbs = []
    for ln in sections(global_help)['Commands']:
        m = re.match(r'^  (\S+)', ln)
        if m:
            verbs.append(m.group(1))
    return verbs


def global_options(global_help):
    """[(spec, description)] from the Options: list (continuation lines joined)."""
    opts = []
    for ln in sections(global_help)['Options']:
        m = re.match(r'^  ((?:-\w )?\s*--\S+(?: \S+)?)\s{2,}(.*)$', ln) or re.match(r'^  (-\w --\S+|\s*--\S+)\s+(.*)$', ln)
        if m:
            opts.append([m.group(1).strip(), m.group(2).strip()])
        elif opts:
            opts[-1][1] += ' ' + ln.strip()
    return opts


def verb_help(exe, verb):
    """(usage, summary, [options]) from `vmgmtctl help VERB`."""
    text = run(exe, 'help', verb)
    blocks = text.split('\n\n')
    first = blocks[0].strip()
    prefix = 'vmgmtctl [OPTIONS...] '
    usage = first[len(prefix):] if first.startswith(prefix) else first
    summary = ' '.join(blocks[1].split())
    options = []
    for ln in sections(text).get('Options', []):
        m = re.match(r'^\s+(--\S+)(?: (\S+))?', ln)
        if m:
            options.append((m.group(1), m.group(2)))
    return usage, summary, options


def render_global_options(opts):
    out = []
    for spec, desc in opts:
        out.append('.TP')
        out.append(roff.line(roff.usage(re.sub(r'^(-\w) ', r'\1, ', spec))))
        out.append(roff.line(roff.esc(desc)))
    return '\n'.join(out)


def render_commands(exe, verbs):
    out = []
    for verb in verbs:
        usage, summary, options = verb_help(exe, verb)
        out.append('.TP')
        out.append(roff.line('\\fB' + roff.esc(verb) + '\\fR' + roff.usage(usage[len(verb):])))
        out.append(roff.line(roff.esc(summary)))
        if options:
            words = ['\\fB' + roff.esc(name) + '\\fR' + (' \\fI' + roff.esc(value) + '\\fR' if value else '')
                     for name, value in options]
            out.append('.br')
            out.append('Options: ' + ', '.join(words) + '.')
    return '\n'.join(out)


def main():
    exe, template, output, version = sys.argv[1:5]
    global_help = run(exe, '--help')
    with open(template, encoding='utf-8') as f:
        text = f.read()
    text = roff.fill(text, {
        'VERSION': version,
        'GLOBAL_OPTIONS': render_global_options(global_options(global_help)),
        'COMMANDS': render_commands(exe, verbs_of(global_help)),
    })
    with open(output + '.tmp', 'w', encoding='utf-8') as f:
        f.write(text)
    os.replace(output + '.tmp', output)


if __name__ == '__main__':
    main()
