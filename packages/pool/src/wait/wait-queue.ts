/** An entry of {@link WaitQueue}: the queue links entries through these fields (no wrapper allocation). */
export interface WaitEntry {
  /** The FIFO it waits in (one per task type or model: a task never waits behind one that needs other workers). */
  readonly key: string
  /** Arrival order; retries keep their task's, so they go first. */
  readonly seq: number
  prev: WaitEntry | null
  next: WaitEntry | null
  list: WaitList | null
}

/** One FIFO of waiting entries. */
export class WaitList {
  head: WaitEntry | null = null
  tail: WaitEntry | null = null
  size = 0

  constructor(readonly key: string) {}
}

/**
 * Bounded FIFO wait lists, one per key, with O(1) push, push-to-front and removal (a waiter that times out
 * or is aborted leaves from the middle). The bound applies to the sum of all lists.
 */
export class WaitQueue {
  readonly #lists = new Map<string, WaitList>()
  #size = 0

  /** Entries waiting in all lists. */
  get size(): number {
    return this.#size
  }

  /** Appends `entry` to its key's list, or puts it first (`front`, for retries that already waited). */
  push(entry: WaitEntry, front = false): void {
    let list = this.#lists.get(entry.key)
    if (list === undefined) {
      list = new WaitList(entry.key)
      this.#lists.set(entry.key, list)
    }
    entry.list = list
    if (list.head === null) {
      entry.prev = entry.next = null
      list.head = list.tail = entry
    } else if (front) {
      entry.prev = null
      entry.next = list.head
      list.head.prev = entry
      list.head = entry
    } else {
      entry.next = null
      entry.prev = list.tail
      list.tail!.next = entry
      list.tail = entry
    }
    list.size++
    this.#size++
  }

  /** Takes `entry` out of its list; false when it was not queued. */
  remove(entry: WaitEntry): boolean {
    const list = entry.list
    if (list === null) return false
    if (entry.prev) entry.prev.next = entry.next
    else list.head = entry.next
    if (entry.next) entry.next.prev = entry.prev
    else list.tail = entry.prev
    entry.prev = entry.next = entry.list = null
    list.size--
    this.#size--
    if (list.size === 0) this.#lists.delete(list.key)
    return true
  }

  /** Non-empty lists, the one whose head waited longest first (fairness across task types). */
  lists(): WaitList[] {
    const lists = [...this.#lists.values()]
    if (lists.length > 1) lists.sort((a, b) => (a.head?.seq ?? 0) - (b.head?.seq ?? 0))
    return lists
  }
}
