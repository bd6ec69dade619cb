// Stand-in for 'k6/metrics': metrics record their samples by name.
const record = () => globalThis.__k6shim;

class Metric {
  constructor(type, name, isTime) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
      throw new Error(`invalid k6 metric name ${name}`);
    }
    this.type = type;
    this.name = name;
    record().metrics[name] = { type, isTime: Boolean(isTime), samples: [] };
  }

  add(value, tags) {
    record().metrics[this.name].samples.push({ value, tags: tags || {} });
  }
}

export class Trend extends Metric {
  constructor(name, isTime) {
    super('trend', name, isTime);
  }
}

export class Counter extends Metric {
  constructor(name) {
    super('counter', name, false);
  }
}

export class Rate extends Metric {
  constructor(name) {
    super('rate', name, false);
  }
}

export class Gauge extends Metric {
  constructor(name, isTime) {
    super('gauge', name, isTime);
  }
}

export default { Trend, Counter, Rate, Gauge };
