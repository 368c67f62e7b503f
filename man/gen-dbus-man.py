#!/usr/bin/env python3
# gen-dbus-man.py TEMPLATE OUTPUT VERSION API.md POLICY HEADER|DIR... -- XML...
# org.vmgmt(7) from the sources of the contract: every interface, property,
# method and signal of interfaces/*.xml with its
# org.freedesktop.DBus.DocString (the comment at the top of each file
# describes the object), the error names of docs/API.md's error table (and
# any VM_ERROR_* of the service headers the table lacks; a DIR stands for
# its *.h), and the polkit
# actions of policy/org.vmgmt.policy. A member added to an XML file is in
# the page at the next build.
import glob
import os
import re
import sys
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import roff  # noqa: E402

DOC = 'org.freedesktop.DBus.DocString'
CHANGED = 'org.freedesktop.DBus.Property.EmitsChangedSignal'


def annotation(el, name):
    for a in el.findall('annotation'):
        if a.get('name') == name:
            return a.get('value')
    return None


def para(text):
    """Free text as one filled paragraph."""
    return roff.line(roff.code(' '.join(text.split())))


def args_text(el, direction):
    out = []
    for a in el.findall('arg'):
        if (a.get('direction') or 'in') == direction or direction is None:
            out.append('\\fI' + roff.esc(a.get('type')) + '\\fR ' + roff.esc(a.get('name') or '_'))
    return ', '.join(out)


def render_interface(path):
    with open(path, encoding='utf-8') as f:
        raw = f.read()
    comment = re.search(r'<!--(.*?)-->', raw, re.S)
    out = []
    for iface in ET.fromstring(raw.encode('utf-8')).findall('interface'):
        name = iface.get('name')
        out.append('.SS ' + roff.esc(name))
        if comment:
            out.append(para(re.sub(r'^\s*' + re.escape(name) + r':\s*', '', comment.group(1).strip())))
        props = iface.findall('property')
        if props:
            out.append('.PP\n.B Properties')
            for p in props:
                flags = [p.get('access')]
                changed = annotation(p, CHANGED)
                if changed == 'const':
                    flags.append('constant')
                elif changed in ('false', 'invalidates'):
                    flags.append('no PropertiesChanged' if changed == 'false' else 'PropertiesChanged without value')
                out.append('.TP')
                out.append('\\fB' + roff.esc(p.get('name')) + '\\fR \\fI' + roff.esc(p.get('type')) + '\\fR ('
                           + roff.esc(', '.join(flags)) + ')')
                out.append(para(annotation(p, DOC) or ''))
        methods = iface.findall('method')
        if methods:
            out.append('.PP\n.B Methods')
            for m in methods:
                outs = args_text(m, 'out')
                out.append('.TP')
                out.append('\\fB' + roff.esc(m.get('name')) + '\\fR(' + args_text(m, 'in') + ')'
                           + (' \\(-> ' + outs if outs else ''))
                out.append(para(annotation(m, DOC) or ''))
        signals = iface.findall('signal')
        if signals:
            out.append('.PP\n.B Signals')
            for s in signals:
                out.append('.TP')
                out.append('\\fB' + roff.esc(s.get('name')) + '\\fR(' + args_text(s, None) + ')')
                out.append(para(annotation(s, DOC) or ''))
    return out


def error_table(api_md):
    """[(names cell, text cell)] of the table under '## Errors'."""
    rows, inside = [], False
    with open(api_md, encoding='utf-8') as f:
        for ln in f:
            if ln.startswith('## '):
                inside = ln.strip() == '## Errors'
                continue
            if inside and ln.startswith('|'):
                cells = [c.strip() for c in ln.strip().strip('|').split('|')]
                if len(cells) >= 2 and not re.match(r'^[-: ]+$', cells[0]) and '`' in cells[0]:
                    rows.append((cells[0], ' | '.join(cells[1:])))
    return rows


def render_errors(api_md, headers):
    rows = error_table(api_md)
    listed = ' '.join(r[0] for r in rows)
    out = []
    for names, text in rows:
        out.append('.TP')
        out.append(roff.line(roff.code(names)))
        out.append(para(text))
    for h in sorted(headers):
        with open(h, encoding='utf-8') as f:
            for m in re.finditer(r'#define\s+VM_ERROR_\w+\s+"([\w.]+)"', f.read()):
                if m.group(1).rsplit('.', 1)[-1] not in listed:
                    out.append('.TP\n\\fB' + roff.esc(m.group(1)) + '\\fR')
                    out.append('(not described in docs/API.md yet)')
                    listed += ' ' + m.group(1)
    return out


def render_objects(api_md):
    """The object paths and their interfaces, from API.md's '## PATH — INTERFACE' headings."""
    out = []
    with open(api_md, encoding='utf-8') as f:
        for ln in f:
            m = re.match(r'^## (/\S*) \u2014 (.+)$', ln.strip())
            if m:
                out.append('.TP\n\\fB' + roff.esc(m.group(1)) + '\\fR')
                out.append(roff.line(roff.esc(m.group(2))))
    return out


def render_policy(path):
    out = []
    for a in ET.parse(path).getroot().findall('action'):
        d = a.find('defaults')
        defaults = ', '.join('%s: %s' % (k, d.findtext('allow_' + k, '').strip()) for k in ('any', 'inactive', 'active'))
        out.append('.TP')
        out.append('\\fB' + roff.esc(a.get('id')) + '\\fR')
        out.append(para((a.findtext('description') or '').strip() + '. Defaults: ' + defaults + '.'))
    return out


def main():
    argv = sys.argv[1:]
    sep = argv.index('--')
    template, output, version, api_md, policy = argv[:5]
    headers, xmls = [], argv[sep + 1:]
    for h in argv[5:sep]:
        headers += glob.glob(os.path.join(h, '*.h')) if os.path.isdir(h) else [h]
    interfaces = []
    for x in xmls:
        interfaces += render_interface(x)
    with open(template, encoding='utf-8') as f:
        text = f.read()
    text = roff.fill(text, {
        'VERSION': version,
        'INTERFACES': '\n'.join(interfaces),
        'OBJECTS': '\n'.join(render_objects(api_md)),
        'ERRORS': '\n'.join(render_errors(api_md, headers)),
        'POLKIT': '\n'.join(render_policy(policy)),
    })
    with open(output + '.tmp', 'w', encoding='utf-8') as f:
        f.write(text)
    os.replace(output + '.tmp', output)


if __name__ == '__main__':
    main()
