import { closeSync, constants, fstatSync, openSync, readFileSync, writeSync } from 'node:fs'
import { basename } from 'node:path'
import { errorText } from '@lazarus/runtime'

/**
 * The Linux watchdog device (`/dev/watchdog`, `/dev/watchdogN`; the `softdog` module's where
 * the host has no hardware one), as the kernel's watchdog API has it: opening it arms it, any
 * byte written is a keepalive, and a close is a clean stop only after the magic character
 * `V` (without it, or with the driver's `nowayout`, the timer keeps running and the host
 * reboots when it expires).
 *
 * Writes are synchronous on purpose: a keepalive must not wait behind a stuck file system
 * call in libuv's thread pool (a hung NFS storage heartbeat would otherwise reboot the host).
 */
export interface WatchdogDevice {
  readonly path: string
  /** The device's timeout in seconds, where sysfs tells it; undefined for a device it does not describe. */
  readonly timeoutSeconds: number | undefined
  /** One keepalive byte. Throws on a failed write. */
  feed(): void
  /** A planned stop: the magic `V`, then close; the device stops without rebooting the host. */
  disarm(): void
  /** Close without `V`: the device keeps running and reboots the host when it expires. */
  abandon(): void
}

export class WatchdogDeviceError extends Error {
  override readonly name = 'WatchdogDeviceError'
}

const KEEPALIVE = Buffer.from([0])
const MAGIC_CLOSE = Buffer.from('V')

/** Linux's encoding of a device number (glibc's gnu_dev_major / gnu_dev_minor). */
const majorMinor = (rdev: number): [number, number] => {
  const hi = Math.floor(rdev / 2 ** 32)
  const lo = rdev >>> 0
  const major = ((lo >>> 8) & 0xfff) | ((hi & 0xfffff000) >>> 0)
  const minor = (lo & 0xff) | ((lo >>> 12) & 0xfff00)
  return [major, minor]
}

/** The timeout sysfs shows for a watchdog character device; the legacy misc node 10:130 is watchdog0. */
const sysfsTimeout = (fd: number, path: string): number | undefined => {
  const st = fstatSync(fd)
  if (!st.isCharacterDevice()) return undefined
  const [major, minor] = majorMinor(st.rdev)
  const candidates =
    major === 10 && minor === 130 ? ['/sys/class/watchdog/watchdog0/timeout'] : [`/sys/dev/char/${major}:${minor}/timeout`, `/sys/class/watchdog/${basename(path)}/timeout`]
  for (const file of candidates) {
    try {
      const n = Number(readFileSync(file, 'utf8').trim())
      if (Number.isInteger(n) && n > 0) return n
    } catch {
      // not this one
    }
  }
  return undefined
}

/**
 * Open (and so arm) the watchdog device at `path`, write-only and without creating anything.
 * Throws a WatchdogDeviceError naming the path and the cause when it cannot be opened: no
 * such device (load `softdog`, or name the right one), no permission (the `lazarus` user needs
 * write access), or busy (another daemon, e.g. watchdog(8) or systemd's RuntimeWatchdogSec,
 * already holds it).
 */
export const openWatchdogDevice = (path: string): WatchdogDevice => {
  let fd: number
  try {
    // O_NONBLOCK: a FIFO with no reader fails (ENXIO) instead of hanging the start.
    fd = openSync(path, constants.O_WRONLY | constants.O_NONBLOCK)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    const hint =
      code === 'ENOENT'
        ? ' (no such device: is a watchdog driver loaded, e.g. `modprobe softdog`?)'
        : code === 'EACCES' || code === 'EPERM'
          ? ' (no write access for this user: see the agent README, "Self-fencing")'
          : code === 'EBUSY'
            ? ' (busy: another process, e.g. watchdog(8) or systemd RuntimeWatchdogSec, holds it)'
            : ''
    throw new WatchdogDeviceError(`cannot open the watchdog device WATCHDOG_DEVICE=${path}: ${errorText(err)}${hint}`, { cause: err })
  }
  let timeoutSeconds: number | undefined
  try {
    timeoutSeconds = sysfsTimeout(fd, path)
  } catch {
    timeoutSeconds = undefined
  }
  let open = true
  const close = (magic: boolean) => {
    if (!open) return
    open = false
    try {
      if (magic) writeSync(fd, MAGIC_CLOSE)
    } finally {
      closeSync(fd)
    }
  }
  return {
    path,
    timeoutSeconds,
    feed() {
      if (!open) throw new WatchdogDeviceError(`the watchdog device ${path} is closed`)
      writeSync(fd, KEEPALIVE)
    },
    disarm: () => close(true),
    abandon: () => close(false),
  }
}
