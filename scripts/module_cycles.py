#!/usr/bin/env python3
"""Lists import cycles between the modules of each crate (`use crate::x` / `use super::x`).

Usage: python3 scripts/module_cycles.py actors/src registry/src src
Prints one line per cycle (a strongly connected group of modules); prints nothing when there
are none. The structure rule (issue 11): no two modules import each other, directly or round
a loop.
"""
import os, re, sys, itertools
def crate_mods(src):
    graph={}
    for root,_,files in os.walk(src):
        for f in files:
            if not f.endswith('.rs'): continue
            path=os.path.join(root,f)
            rel=os.path.relpath(path,src)
            parts=rel[:-3].split(os.sep)
            if parts[-1]=='mod': parts=parts[:-1]
            if not parts or parts[0] in ('lib','main'): continue
            # module identity: up to 2 levels (e.g. sim/admin)
            text=open(path).read()
            text=re.sub(r'#\[cfg\(test\)\]\s*mod tests\s*\{.*', '', text, flags=re.S)
            if rel.endswith('tests.rs'): continue
            me='/'.join(parts[:2])
            for m in re.finditer(r'use (crate|super)::(\w+)(?:::(\w+))?', text):
                kind,a,b=m.groups()
                if kind=='crate':
                    tgt=a if not os.path.isdir(os.path.join(src,a)) else (a+'/'+b if b and (os.path.exists(os.path.join(src,a,b+'.rs')) or os.path.isdir(os.path.join(src,a,b))) else a)
                else:
                    parent=parts[:-1] if parts[-1]!='mod' else parts[:-2]
                    base='/'.join(parts[:len(parts)-1])
                    tgt=(base+'/'+a) if base else a
                    if len(parts)>=3: tgt='/'.join(parts[:1]+[a])
                if tgt!=me and not me.startswith(tgt+'/') and not tgt.startswith(me+'/'):
                    graph.setdefault(me,set()).add(tgt)
    return graph
def cycles(graph):
    out=set()
    for a,bs in graph.items():
        for b in bs:
            if a in graph.get(b,()): out.add(tuple(sorted((a,b))))
    return out
def sccs(graph):
    index={}; low={}; stack=[]; on=set(); res=[]; i=[0]
    def visit(v):
        index[v]=low[v]=i[0]; i[0]+=1; stack.append(v); on.add(v)
        for w in graph.get(v,()):
            if w not in index: visit(w); low[v]=min(low[v],low[w])
            elif w in on: low[v]=min(low[v],index[w])
        if low[v]==index[v]:
            comp=[]
            while True:
                w=stack.pop(); on.discard(w); comp.append(w)
                if w==v: break
            if len(comp)>1: res.append(sorted(comp))
    for v in list(graph): 
        if v not in index: visit(v)
    return res
for src in sys.argv[1:]:
    for c in sccs(crate_mods(src)): print(src, 'SCC:', c)
