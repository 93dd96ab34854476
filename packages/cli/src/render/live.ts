import type { Output } from '../cli.js'

/**
 * Progress for a terminal: log lines scroll above a block of bars redrawn in place. On
 * anything else (a pipe, a CI log) only the log lines are written, each once.
 */
export interface LiveRenderer {
  log(lines: readonly string[]): void
  block(lines: readonly string[]): void
  /** Leave the last block on screen and stop redrawing. */
  done(): void
}

export const createLiveRenderer = (io: Output): LiveRenderer => {
  if (!io.tty) {
    return {
      log: (lines) => {
        for (const l of lines) io.out(l)
      },
      block: () => {},
      done: () => {},
    }
  }
  let shown = 0
  let current: readonly string[] = []
  const erase = () => {
    // Up to the start of the block, then clear to the end of the screen.
    if (shown > 0) io.write(`\x1b[${shown}F\x1b[0J`)
    shown = 0
  }
  const draw = () => {
    for (const l of current) io.out(l)
    shown = current.length
  }
  return {
    log(lines) {
      if (lines.length === 0) return
      erase()
      for (const l of lines) io.out(l)
      draw()
    },
    block(lines) {
      erase()
      current = lines
      draw()
    },
    done() {
      shown = 0
    },
  }
}
