#!/usr/bin/env python3
"""Every results file, folder or source path that the documents cite must exist, so that no
claim in README (or in the notes and history it points to) rests on a file that is gone.

    scripts/doc-paths.py [DOC ...]     # default: README.md, docs/*.md, scaling/results/HISTORY.md,
                                       # kernels/sm80/NOTES.md, kernels/sm90/NOTES.md

A cited path is a `backquoted` token, or a bare *.json / *.png name in a table row, that
starts with a project folder (history/, results/, scaling/, kernels/, scripts/, tests/, c/,
flashcore-rs/) or ends in .json, .png, .txt, .log, .csv or .tar.gz. It resolves against the
repository's root, scaling/, scaling/results/ and scaling/results/history/, or, for a
shorthand such as `call3/paired-*.json`, any folder under scaling/results/history/;
wildcards are globs and {a,b} lists expand. Tokens that abbreviate a name (`-run2.json`) or
hold '...' are skipped. Exit 1 with each missing path and its line, 2 for a document it cannot
read, 0 when all resolve.
"""
import glob
import os
import re
import sys

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
DOCS = ['README.md'] + sorted(os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(ROOT, 'docs', '*.md'))) + [
    'scaling/results/HISTORY.md', 'kernels/sm80/NOTES.md', 'kernels/sm90/NOTES.md']
BASES = ['', 'scaling', 'scaling/results', 'scaling/results/history']
FOLDERS = ('history/', 'results/', 'scaling/', 'kernels/', 'scripts/', 'tests/', 'c/', 'flashcore-rs/')
ENDINGS = ('.json', '.png', '.txt', '.log', '.csv', '.tar.gz')


def cited(line):
    tokens = re.findall(r'`([^`\s]+)`', line)
    if line.startswith('|'):
        tokens += re.findall(r'(?<![`/\w.-])([\w.-]+\.(?:json|png))\b', line)
    for t in tokens:
        t = t.rstrip('.,;:)')
        if t.startswith('-') or '...' in t or '://' in t:
            continue
        if t.startswith(FOLDERS) or t.endswith(ENDINGS):
            yield t


def expand(path):
    """A shell brace list, {a,b}, as the paths it names."""
    m = re.search(r'\{([^{}]*)\}', path)
    if not m:
        return [path]
    return [q for alt in m.group(1).split(',') for q in expand(path[:m.start()] + alt + path[m.end():])]


def exists(path):
    return all(exists_one(p) for p in expand(path))


def exists_one(path):
    for base in BASES:
        if glob.glob(os.path.join(ROOT, base, path.rstrip('/'))):
            return True
    return bool(glob.glob(os.path.join(ROOT, 'scaling/results/history/**', path.rstrip('/')), recursive=True))


def main(argv):
    docs = argv[1:] or DOCS
    missing = 0
    for doc in docs:
        try:
            lines = open(os.path.join(ROOT, doc)).read().split('\n')
        except OSError as e:
            print(f'{doc}: cannot read ({e.strerror})')
            return 2
        for n, line in enumerate(lines, 1):
            for t in cited(line):
                if not exists(t):
                    print(f'{doc}:{n}: {t} does not exist')
                    missing += 1
    if missing:
        print(f'{missing} cited path(s) missing')
        return 1
    print(f'every cited path exists ({", ".join(docs)})')
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
