/**
 * Whether a string is well-formed UTF-16, that is, has no lone surrogate
 * (`String.prototype.isWellFormed`, in every runtime this package supports).
 */
export function isWellFormed(value: string): boolean {
  return (value as string & { isWellFormed(): boolean }).isWellFormed();
}
