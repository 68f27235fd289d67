package worker

import (
	"container/list"

	"github.com/scaler-go/scaler/core/protocol"
)

// objectCache keeps fetched objects (serializers, functions, arguments) by id, least
// recently used first out once over budget. Objects never change under an id, so a miss is
// only a re-fetch; the scheduler's delete broadcasts evict what is gone for good.
type objectCache struct {
	budget int64
	size   int64
	items  map[protocol.ObjectID]*list.Element
	lru    *list.List
}

type cacheItem struct {
	id   protocol.ObjectID
	data []byte
}

func newObjectCache(budget int64) *objectCache {
	return &objectCache{budget: budget, items: map[protocol.ObjectID]*list.Element{}, lru: list.New()}
}

func (c *objectCache) get(id protocol.ObjectID) ([]byte, bool) {
	e, ok := c.items[id]
	if !ok {
		return nil, false
	}
	c.lru.MoveToFront(e)
	return e.Value.(*cacheItem).data, true
}

func (c *objectCache) put(id protocol.ObjectID, data []byte) {
	if e, ok := c.items[id]; ok {
		c.size -= int64(len(e.Value.(*cacheItem).data))
		e.Value.(*cacheItem).data = data
		c.size += int64(len(data))
		c.lru.MoveToFront(e)
	} else {
		c.items[id] = c.lru.PushFront(&cacheItem{id: id, data: data})
		c.size += int64(len(data))
	}
	for c.size > c.budget && c.lru.Len() > 1 {
		last := c.lru.Back()
		item := last.Value.(*cacheItem)
		c.lru.Remove(last)
		delete(c.items, item.id)
		c.size -= int64(len(item.data))
	}
}

func (c *objectCache) evict(id protocol.ObjectID) {
	if e, ok := c.items[id]; ok {
		c.size -= int64(len(e.Value.(*cacheItem).data))
		c.lru.Remove(e)
		delete(c.items, id)
	}
}
