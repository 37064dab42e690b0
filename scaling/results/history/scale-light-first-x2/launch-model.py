import heapq, sys
def block_order(linear, blocks, pairs, group):
    group=max(1,min(group,pairs)); rem=pairs%group; first=0; size=rem; local=linear
    if linear>=rem*blocks:
        rest=linear-rem*blocks; first=rem+rest//(group*blocks)*group; size=group; local=rest%(group*blocks)
    return first+local%size, blocks-1-local//size
def sim(B,H,S,order_shift=0,sms=132,a=1.8,c=3.0,bw=350e3,BM=128,D=128,group=None):
    blocks=S//BM; pairs=B*H
    if group is None:
        kv=2*S*D*2; group=max(1,min(pairs,(24<<20)//kv))
    N=blocks*pairs
    tiles=[]
    for item in range(N):
        t=(item+N-order_shift)%N
        hb,m=block_order(t,blocks,pairs,group)
        tiles.append(m+1)  # key tiles (causal, square)
    free=[(0.0,i) for i in range(sms)]; heapq.heapify(free)
    done=[]
    for n in tiles:
        t0,i=heapq.heappop(free); t1=t0+c+a*n; done.append(t1); heapq.heappush(free,(t1,i))
    mk=max(done)
    out=BM*D*2 # bytes per tile
    link=0.0
    for t in sorted(done):
        link=max(link,t)+out/bw  # bytes per us
    return mk,link
for (B,H,S) in [(4,8,4096),(1,8,4096),(1,8,8192),(2,8,8192)]:
    base,_=sim(B,H,S)
    print(B,H,S,"T1 makespan %.1f"%base)
    N=(S//128)*B*H
    for L in [0,8,16,24,32,40,48,60,72,96,128,160,200]:
        if L>=N: break
        mk,link=sim(B,H,S,L)
        print("  shift %4d makespan %.1f link end %.1f  eff(link) %.1f%%"%(L,mk,link,100*base/link))

print("--- sensitivity, B=1 H=8 S=4096 and B=4 H=8 S=4096")
for (B,H,S) in [(1,8,4096),(4,8,4096)]:
  N=(S//128)*B*H
  for a,c,bw in [(1.8,3.0,350e3),(1.6,2.7,350e3),(1.8,3.0,300e3),(1.8,3.0,378e3),(2.0,2.0,350e3),(1.6,4.0,350e3)]:
    base,l0=sim(B,H,S,0,a=a,c=c,bw=bw)
    best=min(range(0,min(N,200),4),key=lambda L: sim(B,H,S,L,a=a,c=c,bw=bw)[1])
    lb=sim(B,H,S,best,a=a,c=c,bw=bw)[1]
    print("a=%.1f c=%.1f bw=%.0f: T1 %.1f  shift0 tail %.1f eff %.1f%% | best shift %d tail %.1f eff %.1f%%  shift32: %.1f%%"%(a,c,bw/1e3,base,l0-base,100*base/(l0+5),best,lb-base,100*base/(lb+5),100*base/(sim(B,H,S,32,a=a,c=c,bw=bw)[1]+5)))
