import multiprocessing as mp, time, os, sqlite3
def work(x):
    return sum(i*i for i in range(x))
if __name__ == '__main__':
    db = sqlite3.connect('t.db')
    db.execute('pragma journal_mode=wal')
    db.execute('create table if not exists t(i integer, v text)')
    pool = mp.Pool(3)
    q = mp.Queue()
    lock = mp.Lock()
    i = 0
    while True:
        i += 1
        r = pool.map(work, [1000, 2000, 3000])
        with lock:
            db.execute('insert into t values(?,?)', (i, str(r)))
            db.commit()
        n = db.execute('select count(*) from t').fetchone()[0]
        print(i, n, r[0], flush=True)
        time.sleep(0.2)
