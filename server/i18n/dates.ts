/**
 * How each panel language writes a moment, in the device's time zone with the zone named — the
 * medium date and long time styles of the language, written by hand: the first Intl.DateTimeFormat
 * loads ICU's locale, calendar and zone data, 8 MB of RSS that alone take the device over its
 * 64 MB budget. The zone is named "UTC", or by its offset ("UTC+1", "UTC-5:30").
 */

export interface MomentWriter {
  dateTime(ms: number): string;
  time(ms: number): string;
  date(ms: number): string;
}

interface Fields {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
  zone: string;
}

function fieldsOf(ms: number): Fields {
  const at = new Date(ms);
  const offset = -at.getTimezoneOffset();
  const hours = Math.trunc(Math.abs(offset) / 60);
  const minutes = Math.abs(offset) % 60;
  const zone = offset === 0 ? 'UTC' : `UTC${offset > 0 ? '+' : '-'}${hours}${minutes ? `:${String(minutes).padStart(2, '0')}` : ''}`;
  return { year: at.getFullYear(), month: at.getMonth(), day: at.getDate(), hour: at.getHours(), minute: at.getMinutes(), second: at.getSeconds(), zone };
}

const two = (n: number) => String(n).padStart(2, '0');

const EN_MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const SV_MONTHS = ['jan.', 'feb.', 'mars', 'apr.', 'maj', 'juni', 'juli', 'aug.', 'sep.', 'okt.', 'nov.', 'dec.'];

const styles: Record<string, { date(f: Fields): string; time(f: Fields): string; join: string }> = {
  en: {
    date: (f) => `${EN_MONTHS[f.month]} ${f.day}, ${f.year}`,
    time: (f) => `${f.hour % 12 || 12}:${two(f.minute)}:${two(f.second)} ${f.hour < 12 ? 'AM' : 'PM'} ${f.zone}`,
    join: ', ',
  },
  ja: {
    date: (f) => `${f.year}/${two(f.month + 1)}/${two(f.day)}`,
    time: (f) => `${f.hour}:${two(f.minute)}:${two(f.second)} ${f.zone}`,
    join: ' ',
  },
  sv: {
    date: (f) => `${f.day} ${SV_MONTHS[f.month]} ${f.year}`,
    time: (f) => `${two(f.hour)}:${two(f.minute)}:${two(f.second)} ${f.zone}`,
    join: ' ',
  },
};

export function momentWriter(lang: string): MomentWriter {
  const style = styles[lang] ?? styles.en!;
  return {
    dateTime: (ms) => {
      const f = fieldsOf(ms);
      return `${style.date(f)}${style.join}${style.time(f)}`;
    },
    time: (ms) => style.time(fieldsOf(ms)),
    date: (ms) => style.date(fieldsOf(ms)),
  };
}
