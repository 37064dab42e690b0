"""How much of the storing launch's link tail a better tile order could save (issue 6, weak
scaling): the list-scheduling model of ../scale-light-first-x2/launch-model.py (tiles in a
given order on 132 SMs, a tile taking c + a x key tiles us, each finished tile's 32 KB queued
on one link at 350 GB/s), with simulated annealing over the order to find the earliest end of
the link's queue. No GPU; python3 only.
    python3 order-bound.py B H S c iterations seed"""
import heapq, math, random, sys


def block_order(linear, blocks, pairs, group):
    group = max(1, min(group, pairs)); rem = pairs % group; first = 0; size = rem; local = linear
    if linear >= rem * blocks:
        rest = linear - rem * blocks; first = rem + rest // (group * blocks) * group; size = group; local = rest % (group * blocks)
    return first + local % size, blocks - 1 - local // size


def dispatch_order(B, H, S, BM=128, D=128):
    """Key tiles of each tile in the kernel's dispatch order (heaviest first, pairs interleaved)."""
    blocks, pairs = S // BM, B * H
    group = max(1, min(pairs, (24 << 20) // (2 * S * D * 2)))
    return [block_order(t, blocks, pairs, group)[1] + 1 for t in range(blocks * pairs)]


def sim(order, c, sms=132, a=1.8, bw=350e3, out=32768):
    free = [(0.0, i) for i in range(min(sms, len(order)))]
    heapq.heapify(free)
    done = []
    for n in order:
        t0, i = heapq.heappop(free)
        t1 = t0 + c + a * n
        done.append(t1)
        heapq.heappush(free, (t1, i))
    link = 0.0
    for t in sorted(done):
        link = max(link, t) + out / bw
    return max(done), link


def main():
    B, H, S = map(int, sys.argv[1:4]); c = float(sys.argv[4]); iters = int(sys.argv[5]); random.seed(int(sys.argv[6]))
    base = dispatch_order(B, H, S)
    t1 = sim(base, c)[0]
    lead = 32 if len(base) > 128 else 0
    led = base[len(base) - lead:] + base[:len(base) - lead]
    cur = led[:]; f = sim(cur, c)[1]; best = (f, cur[:]); T = 2.0
    for _ in range(iters):
        i, j = random.randrange(len(cur)), random.randrange(len(cur))
        if cur[i] == cur[j]:
            continue
        cur[i], cur[j] = cur[j], cur[i]
        g = sim(cur, c)[1]
        if g <= f or random.random() < math.exp((f - g) / T):
            f = g
        else:
            cur[i], cur[j] = cur[j], cur[i]
        if f < best[0]:
            best = (f, cur[:])
        T = max(0.01, T * 0.9999)
    print("B=%d H=%d S=%d c=%.2f: attention alone %.1f us; link end: dispatch order %.1f, lightest %d first %.1f, "
          "best order found %.1f (tail %.1f us)" % (B, H, S, c, t1, sim(base, c)[1], lead, sim(led, c)[1], best[0], best[0] - t1))


if __name__ == "__main__":
    main()
