/**
 * Regular-expression sources for calendar dates and times of day, shared by the
 * timestamp and session-id patterns. They accept only real dates (month lengths,
 * leap years) in the years 1700 to 2199, so a JSON Schema validator that only knows
 * `pattern` refuses 2025-02-29 just as the parsers here do.
 */

const YEAR = '(?:1[7-9]|2[01])[0-9]{2}';
// Leap years of 1700–2199: divisible by 4, except the centuries other than 2000.
const LEAP_YEAR = '(?:(?:1[7-9]|2[01])(?:0[48]|[2468][048]|[13579][26])|2000)';

function monthAndDay(separator: string): string {
  return (
    `(?:(?:0[13578]|1[02])${separator}(?:0[1-9]|[12][0-9]|3[01])` +
    `|(?:0[469]|11)${separator}(?:0[1-9]|[12][0-9]|30)` +
    `|02${separator}(?:0[1-9]|1[0-9]|2[0-8]))`
  );
}

/** A calendar date `YYYY<sep>MM<sep>DD` in 1700–2199, leap years included. */
export function calendarDateSource(separator: string): string {
  return `(?:${YEAR}${separator}${monthAndDay(separator)}|${LEAP_YEAR}${separator}02${separator}29)`;
}

/** A time of day `hh<sep>mm<sep>ss`, 00:00:00 to 23:59:59 (no leap second). */
export function timeOfDaySource(separator: string): string {
  return `(?:[01][0-9]|2[0-3])${separator}[0-5][0-9]${separator}[0-5][0-9]`;
}

/** First year a timestamp or session id may have. */
export const MIN_YEAR = 1700;
/** Last year a timestamp or session id may have. */
export const MAX_YEAR = 2199;

/** Days in a month (1–12) of a proleptic Gregorian year. */
export function daysInMonth(year: number, month: number): number {
  if (month === 2) {
    const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
    return leap ? 29 : 28;
  }
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

/** Whether the parts form a real date and time in the supported years. */
export function isValidDateTime(
  year: number,
  month: number,
  day: number,
  hour: number,
  minute: number,
  second: number,
): boolean {
  return (
    year >= MIN_YEAR &&
    year <= MAX_YEAR &&
    month >= 1 &&
    month <= 12 &&
    day >= 1 &&
    day <= daysInMonth(year, month) &&
    hour <= 23 &&
    minute <= 59 &&
    second <= 59
  );
}
