export interface PoolQueryReport {
  rows: never[];
}
export async function poolQueryBench(_url: string, _schema: string, _rounds: number): Promise<PoolQueryReport> {
  return { rows: [] };
}
export function printPoolQueries(_r: PoolQueryReport): void {}
